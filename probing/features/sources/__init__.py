"""Where the text comes from: version-pinned registry packages, the files and catalogues inside
them, and Hugging Face datasets (the hub or the local cache). Above core/, below the collections."""
