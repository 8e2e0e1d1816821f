"""What people read: report numbers, figures, retention KPIs, the HTML report, markdown cards."""
