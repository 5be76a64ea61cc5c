"""The command line (``ctrlgen``): one module per subcommand, backends add their own flags. Importing this
package stays cheap (no torch) so that ``ctrlgen --help`` answers at once; see :mod:`.main`."""

from ctrlgen.cli.main import main

__all__ = ["main"]
