from digitlab.cli.main import main

main()
