from h1fault.cli import main

main()
