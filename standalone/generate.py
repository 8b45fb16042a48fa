"""Generate demos with Isaac Lab Mimic inside the Isaac Lab container (Isaac Sim's Python).

    /isaac-sim/python.sh standalone/generate.py --num-trials 5      # or: MODE=standalone launch.sh

Settings, flags and exit codes are those of ``mimicforge generate``; see ``mimicforge.standalone``.
"""

from mimicforge.standalone import main

if __name__ == "__main__":
    raise SystemExit(main())
