"""Where guidance is going (issue 20): the stages of a supervision, the
assessments (risk category and criminogenic needs), the case plan of goals in
countersigned versions, and the progress a PK rates at every session."""
