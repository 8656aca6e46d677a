"""Command-line helpers of the `kerasrrn` commands: flags made from config fields
(`kerasrrn.cli.flags`). The parser class and the bounded argparse types every command uses are
`pipelines.cli`'s."""
