from chartvault.cli import run

run()
