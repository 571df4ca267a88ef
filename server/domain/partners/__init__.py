"""Who helps a client, and what a court ordered (issue 21): the office's
partners (``directory``), referrals to them (``referrals``), their counts for
the evaluation (``counts``), a client's sentence and community-service hours
(``sentences``) and the site supervisors' links (``site_links``)."""
