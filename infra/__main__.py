"""Entry point of the PDN site stacks (``pulumi up --stack <site>`` or ``pdn stacks up``)."""

import sys
from pathlib import Path

import pulumi

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pdn.errors import PdnError
from pdn_infra.program import build

try:
    build()
except PdnError as error:  # one clear line in `pulumi up`, no Python traceback
    raise pulumi.RunError(f"{error}" + (f" (hint: {error.hint})" if error.hint else "")) from None
