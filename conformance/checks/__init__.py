"""Checks judge: small pure functions over recorded exchanges and the profile section they read.

Each returns a list of findings; an empty list is a pass. They do no I/O: the scenarios in
`conformance.suite` send the requests and hand the exchanges over.
"""
