"""What each `prober` subcommand does, below the argument parsing of `prober.cli`."""
