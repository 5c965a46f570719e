"""What the HTML reports share: figures as inline SVG (plots) and the page around them (page).

A report lives with what it describes (the model card in churn.core.card, written by training; the
campaign report in churn.campaign.report, written by campaign.py --report) and
builds on these two modules, so every report looks alike and none needs a network to be viewed.
matplotlib is imported here and only here; the service never imports this package (an import-linter
contract in pyproject.toml), so it stays a training and reporting dependency.
"""
