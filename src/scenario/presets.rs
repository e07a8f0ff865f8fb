//! Presets: named sets of defaults for components and retry policies, taken from vendors'
//! documentation and RFCs (see `../shared/domain.md` in the design notes). A preset fills in the
//! keys a table does not set; keys the user sets always win.
//!
//! Each preset names its source next to its values.

/// (name, the kind of table it applies to, TOML text of its defaults, source)
pub struct Preset {
    pub name: &'static str,
    pub applies_to: &'static str,
    pub toml: &'static str,
    pub source: &'static str,
}

pub const PRESETS: &[Preset] = &[
    // ---- edges -------------------------------------------------------------------------------
    Preset {
        name: "genesys-data-action",
        applies_to: "edge",
        // timeoutSeconds is validated to 1-60 s and covers the whole execution.
        toml: r#"deadline_range = ["1s", "60s"]
timeout_status = 504
reset_status = 502
malformed_status = 502"#,
        source: "Genesys platform SDK docs, ActionConfig.timeoutSeconds (1-60 s, whole execution)",
    },
    // ---- proxies -----------------------------------------------------------------------------
    Preset {
        name: "alb",
        applies_to: "proxy",
        // Idle timeout 60 s; target closing a keep-alive connection first: 502; no response
        // within the idle timeout: 504. ALB does not retry requests to a target.
        toml: r#"timeout_status = 504
reset_status = 502
malformed_status = 502
[upstream]
timeout = "60s"
"#,
        source: "AWS Application Load Balancer docs: idle timeout 60 s; HTTP 502 / HTTP 504 troubleshooting",
    },
    Preset {
        name: "azure-apim",
        applies_to: "proxy",
        // forward-request timeout default 300 s; values above 240 s may not be honoured.
        toml: r#"timeout_status = 504
reset_status = 502
[upstream]
timeout = "300s"
"#,
        source: "Azure API Management policy reference, forward-request (timeout default 300 s)",
    },
    Preset {
        name: "envoy",
        applies_to: "proxy",
        // Route timeout 15 s including retries; retry back-off full jitter, base 25 ms, cap
        // 250 ms (10 x base); num_retries default 1 once a retry policy is set.
        toml: r#"timeout_status = 504
reset_status = 503
[upstream]
deadline = "15s"
[upstream.retry]
max_attempts = 2
retry_on = ["5xx", "reset"]
[upstream.retry.backoff]
strategy = "full-jitter"
base = "25ms"
cap = "250ms"
"#,
        source: "Envoy API docs: RouteAction.timeout 15 s; RetryPolicy num_retries 1, base_interval 25 ms, max_interval 10x",
    },
    Preset {
        name: "nginx",
        applies_to: "proxy",
        toml: r#"timeout_status = 504
reset_status = 502
[upstream]
timeout = "60s"
"#,
        source: "nginx ngx_http_proxy_module docs: proxy_read_timeout default 60 s",
    },
    // ---- token endpoints ---------------------------------------------------------------------
    Preset {
        name: "okta",
        applies_to: "token-endpoint",
        toml: r#"rotation = true
reuse_detection = "revoke-family"
grace = "30s"
invalid_grant_status = 400
"#,
        source: "Okta refresh-token rotation guide: reuse revokes the latest refresh token and access tokens; grace (leeway) default 30 s",
    },
    Preset {
        name: "auth0",
        applies_to: "token-endpoint",
        toml: r#"rotation = true
reuse_detection = "revoke-family"
grace = "0"
invalid_grant_status = 403
"#,
        source: "Auth0 docs, refresh token rotation: reuse interval configurable; reuse outside it revokes the family; HTTP 403 invalid_grant",
    },
    Preset {
        name: "keycloak",
        applies_to: "token-endpoint",
        toml: r#"rotation = false
reuse_detection = "reject"
grace = "0"
access_token_ttl = "300s"
invalid_grant_status = 400
"#,
        source: "Keycloak server admin docs: revoke refresh token (one-time use) off by default, max reuse 0, access token lifespan 5 min",
    },
    Preset {
        name: "entra",
        applies_to: "token-endpoint",
        toml: r#"rotation = true
reuse_detection = "none"
invalid_grant_status = 400
"#,
        source: "Microsoft identity platform docs: refresh tokens are replaced on use but old ones stay valid",
    },
    Preset {
        name: "cognito",
        applies_to: "token-endpoint",
        toml: r#"rotation = true
reuse_detection = "reject"
grace = "0"
invalid_grant_status = 400
"#,
        source: "AWS Cognito API reference, RefreshTokenRotation: RetryGracePeriodSeconds 0-60 s",
    },
    Preset {
        name: "rfc9700",
        applies_to: "token-endpoint",
        toml: r#"rotation = true
reuse_detection = "revoke-family"
grace = "0"
invalid_grant_status = 400
"#,
        source: "RFC 9700 s4.14.2: rotation; on reuse the server revokes the active refresh token and the grant",
    },
    // ---- platform APIs -----------------------------------------------------------------------
    Preset {
        name: "genesys-platform-api",
        applies_to: "platform-api",
        // 300 requests per minute per client-credentials token; 429 with Retry-After.
        toml: r#"[server.rate_limit]
requests = 300
period = "60s"
per = "token"
status = 429
"#,
        source: "Genesys developer forum: Platform API rate limit 300 requests/min per token, 429 with Retry-After",
    },
    // ---- retry policies ----------------------------------------------------------------------
    Preset {
        name: "seed-thread",
        applies_to: "retry",
        // "Set the retry count to 3 and the delay to 2 seconds" with exponential backoff.
        toml: r#"max_attempts = 4
retry_on = ["timeout", "reset", 502, 503, 504]
[backoff]
strategy = "exponential"
base = "2s"
cap = "60s"
"#,
        source: "the seed forum thread: 3 retries, 2 s delay, exponential backoff",
    },
    Preset {
        name: "aws-sdk-standard",
        applies_to: "retry",
        toml: r#"max_attempts = 3
retry_on = ["timeout", "reset", 429, 500, 502, 503, 504]
[backoff]
strategy = "full-jitter"
base = "1s"
cap = "20s"
"#,
        source: "AWS SDK standard retry mode (botocore retries/standard.py): 3 attempts, delay = rand * min(20 s, 1 s * 2^attempt)",
    },
    Preset {
        name: "envoy-retry",
        applies_to: "retry",
        toml: r#"max_attempts = 2
retry_on = ["5xx", "reset"]
[backoff]
strategy = "full-jitter"
base = "25ms"
cap = "250ms"
"#,
        source: "Envoy RetryPolicy: num_retries 1, base_interval 25 ms, max_interval 10x base",
    },
    Preset {
        name: "grpc",
        applies_to: "retry",
        toml: r#"max_attempts = 5
retry_on = [503, "reset"]
[backoff]
strategy = "full-jitter"
base = "1s"
cap = "120s"
"#,
        source: "gRPC proposal A6 (client retries): maxAttempts capped at 5, backoff randomized; A6 sets no default initialBackoff/maxBackoff, 1 s / 120 s are this preset's choice",
    },
    Preset {
        name: "polly",
        applies_to: "retry",
        toml: r#"max_attempts = 4
retry_on = ["timeout", "reset", 408, 429, 500, 502, 503, 504]
[backoff]
strategy = "constant"
base = "2s"
cap = "2s"
"#,
        source: "Polly v8 RetryStrategyOptions: MaxRetryAttempts 3, Delay 2 s, BackoffType Constant",
    },
    Preset {
        name: "resilience4j",
        applies_to: "retry",
        toml: r#"max_attempts = 3
retry_on = ["timeout", "reset", "5xx"]
[backoff]
strategy = "constant"
base = "500ms"
cap = "500ms"
"#,
        source: "resilience4j RetryConfig defaults: maxAttempts 3, waitDuration 500 ms",
    },
];

pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

pub fn names_for(applies_to: &str) -> Vec<&'static str> {
    PRESETS.iter().filter(|p| p.applies_to == applies_to).map(|p| p.name).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_preset_is_valid_toml() {
        for p in super::PRESETS {
            p.toml.parse::<toml_edit::DocumentMut>().unwrap_or_else(|e| panic!("preset {}: {e}", p.name));
        }
    }
}
