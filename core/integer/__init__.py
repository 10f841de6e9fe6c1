"""All-integer training (NITI rules): int8 mantissas with one power-of-two exponent per tensor, int32 accumulation."""
