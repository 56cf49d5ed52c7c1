"""Quality checks shared by seed mining and curation: exact and MinHash dedup (``dedup``, over the
per-text sketches of ``minhash``), benchmark decontamination (``decontam``) and the keep-or-drop
filter protocol (``filters``). Nothing is imported here, so using one module does not load the
others (or numpy)."""
