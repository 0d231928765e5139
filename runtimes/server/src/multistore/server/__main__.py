from multistore.server.cli import main

raise SystemExit(main())
