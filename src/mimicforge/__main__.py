from mimicforge.cli import main

raise SystemExit(main())
