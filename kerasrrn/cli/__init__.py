"""Command-line helpers of the `kerasrrn` commands: flags made from config fields
(`kerasrrn.cli.flags`) and the `main` that parses, then imports and runs the command's work
(`kerasrrn.cli.entry`). The parser class and the bounded argparse types every command uses are
`pipelines.cli`'s."""
