"""The bench app for `auth_cost.py --instructions` (under callgrind, ~50x slower than natively).

The read lane moves a page to its thread pool when one takes more than LOOP_BUDGET_SECONDS of CPU in
the loop; under valgrind every page would, so the budget is scaled up to keep the native behaviour.
"""

import arkos.readlane

arkos.readlane.LOOP_BUDGET_SECONDS = 1.0

from app import app  # noqa: E402,F401
