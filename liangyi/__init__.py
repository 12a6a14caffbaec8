"""liangyi (两翼): software for the "one body, two wings" socialised drug-rehabilitation model."""
