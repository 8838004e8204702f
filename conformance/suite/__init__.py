"""The conformance suite the plugin runs: `pytest --pyargs conformance.suite --conformance-api API`.

Scenarios act (send requests through `Target`, record exchanges); the judges in
`conformance.checks` decide. Each test declares the rules it judges with `@pytest.mark.rules`.
"""
