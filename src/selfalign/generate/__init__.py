"""Generation: the few-shot pool, prompt builders and output parsers of the three generation
stages (S->C, C->I, I->R). Pure functions of their inputs; the stages in ``stages/`` call them."""
