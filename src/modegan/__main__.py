"""`python -m modegan ...` (and `torchrun --nproc_per_node N -m modegan train ...`): the command line."""

from modegan.cli import entry

if __name__ == "__main__":
    entry()
