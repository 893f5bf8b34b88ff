from factory_app.cli import main

main()
