"""From the prior and the network to a change map: the prior's cut (threshold), the evidence that any
change is there (evidence), the change score (score), whether the network's veto is kept
(confirmation), rare change confined to its compact groups (local_change) and the change layer at a
threshold (cut)."""
