"""Op definitions: what each op is called, what parameters it takes, and how its randomness is drawn.

Backends (``augment.compile``) turn the drawn parameters into pixels or text; nothing in this package applies
an op to data except the text ops, whose random choices depend on the text itself.
"""
