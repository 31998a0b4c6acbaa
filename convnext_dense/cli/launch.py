"""``python -m convnext_dense.cli.launch``: torchrun (what
``tools/dist_run.sh`` starts), with one-line errors where torchrun prints
tracebacks.

* A node that never joins: the first node's torchrun waits for every node
  until the rendezvous timeout (``--rdzv_conf timeout=S``, ``RDZV_TIMEOUT`` in
  ``tools/dist_run.sh``), then ends in a ``DistStoreError`` traceback, and
  another node's in a ``DistNetworkError`` one. Here each is one line saying
  which node is missing and what to do.
* A worker that failed: torchrun prints a ``ChildFailedError`` traceback
  after the worker's own error; here it ends with the worker's exit code
  (a bad input's ``error:`` line, exit code 2, is all that shows).
"""
import re
import sys
from argparse import Namespace
from typing import List, Optional, Tuple

from torch.distributed import DistError
from torch.distributed import run as torchrun
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

from convnext_dense.errors import UserError

from .common import run_cli

#: torchrun's rendezvous timeout when --rdzv_conf sets none, in seconds.
DEFAULT_TIMEOUT_S = 600
#: What the first node's store says when nodes are missing.
_JOINED = re.compile(r'(\d+)/(\d+) clients joined')


def _timeout_s(args: Namespace) -> int:
    match = re.search(r'(?:^|,)\s*timeout=(\d+)', args.rdzv_conf or '')
    return int(match.group(1)) if match else DEFAULT_TIMEOUT_S


def missing_node_message(args: Namespace, error: Exception) -> str:
    """The line for a rendezvous that timed out on this node.

    Args:
        args: torchrun's parsed arguments (``nnodes``, ``node_rank``,
            ``master_addr``, ``master_port``, ``rdzv_conf``).
        error: The timeout torchrun raised.
    """
    nnodes = int(str(args.nnodes).split(':')[-1])
    where = f'{args.master_addr}:{args.master_port}'
    waited = f'within {_timeout_s(args)} s'
    if args.node_rank != 0:
        return (f'node NODE_RANK=0 (the first, at {where}) did not answer '
                f'{waited}; this is NODE_RANK={args.node_rank} of '
                f'NNODES={nnodes}: start tools/dist_train.sh there with '
                'NODE_RANK=0, or check MASTER_ADDR and PORT')
    joined = _JOINED.search(str(error))
    count = nnodes - int(joined.group(1)) if joined else None
    if nnodes == 2 or count == nnodes - 1:
        missing = ('node NODE_RANK=1 is' if nnodes == 2 else
                   f'nodes NODE_RANK=1 to {nnodes - 1} are')
    else:
        missing = (f'{count if count is not None else "some"} of the nodes '
                   f'NODE_RANK=1 to {nnodes - 1} are')
    return (f'{missing} missing: it did not join the rendezvous at {where} '
            f'{waited} (NNODES={nnodes}): start tools/dist_train.sh on each '
            'node with its NODE_RANK and the same MASTER_ADDR and PORT, or '
            'allow more time with RDZV_TIMEOUT=SECONDS')


def _first_failure(error: ChildFailedError) -> Tuple[int, int]:
    """The global rank and exit code of the first worker that failed."""
    rank, failure = min(error.failures.items())
    return rank, failure.exitcode


def main(argv: Optional[List[str]] = None) -> None:
    """Runs torchrun with ``argv`` (its own command line).

    Raises:
        UserError: when a node did not join within the rendezvous timeout.
    """
    args = torchrun.parse_args(argv)
    try:
        torchrun.run(args)
    except DistError as error:
        if 'timed out' not in str(error).lower():
            raise
        raise UserError(missing_node_message(args, error)) from None
    except ChildFailedError as error:
        rank, code = _first_failure(error)
        if code != 2:  # 2: the worker printed its one-line error already
            print(f'error: worker {rank} exited with code {code}; its '
                  'output above says why', file=sys.stderr)
        sys.exit(code if code > 0 else 1)


def cli() -> None:
    run_cli(main)


if __name__ == '__main__':
    cli()
