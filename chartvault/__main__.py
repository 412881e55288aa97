from chartvault.cli import main

main()
