"""`python -m probing.ablate RUN_DIR`: the ablation case study's command, kept at its old path
(see probing.case_studies.ablate)."""

import sys

from probing.case_studies.ablate import main

if __name__ == "__main__":
    sys.exit(main())
