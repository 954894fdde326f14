"""Mutation testing of the safety-critical code (``./scripts/mutation``).

A mutant is the code with one small fault in it (``mutants.py`` lists the operators). The tool runs,
for each mutant, the fast tests mapped to its file (``runner.TEST_MAP``) in a copy of the repository
under /tmp, never in the working tree, and sorts the mutants into killed (a test failed), survived
(every test passed: a fault our tests cannot see), timed out (counted as detected) and equivalent
(listed with a reason in ``equivalent.txt``: no test can tell them from the original).

This package holds no tests: pytest collects only ``test_*.py`` files and there are none here.
"""
