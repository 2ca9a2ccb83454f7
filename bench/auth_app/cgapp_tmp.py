import arkos.readlane
arkos.readlane.LOOP_BUDGET_SECONDS = 1.0  # valgrind runs ~50x slower: keep the page in the loop as natively
from app import app  # noqa
