"""Documents and figures shared by every report SarcoTrial writes (the study report, the plan-QA
report): a small document model rendered to HTML and PDF, and the matplotlib set-up with the lock
every drawing holds. It knows nothing of studies or plans; ``report/`` and ``radiotherapy/`` build on it.
"""
