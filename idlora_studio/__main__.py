from idlora_studio.cli import main

raise SystemExit(main())
