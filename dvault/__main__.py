from dvault.cli import main

main()
