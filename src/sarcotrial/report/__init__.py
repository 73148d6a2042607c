"""The study report: data gathered from the study, figures, HTML and PDF."""
