"""Authorization as AWS evaluates it: whether a principal's call on a resource is allowed.

``evaluation`` decides one request from the caller's identity policies, the resource's policy and,
for KMS, the key policy, with AWS's rules for one account (explicit deny wins, then an allow from
the applicable policies); ``conditions`` holds the condition operators, wildcards and policy
variables it matches with. Both are pure: the request context is given, never fetched.
"""
