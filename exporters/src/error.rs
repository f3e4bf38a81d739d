//! The crate's one error type. Start at [`Error`]: each variant says which
//! part of `serve` raised it.

/// What can go wrong while exporting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Registering or encoding a metric failed: a name or label clash, which
    /// is a bug in [`crate::metrics`], never bad input.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The text exposition was not UTF-8 (the encoder only writes UTF-8, so a bug).
    #[error("metrics: exposition is not UTF-8: {0}")]
    Exposition(#[from] std::string::FromUtf8Error),
    /// Serialising the alerting rules to YAML failed.
    #[error("alerts: writing YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    /// A rule id that cannot become an alert name (it must hold a letter or
    /// digit, and nothing but letters, digits, `-` and `_`).
    #[error("alerts: rule id {0:?} cannot be turned into an alert name")]
    RuleId(String),
    /// An `--alertmanager` URL that cannot be used.
    #[error("alertmanager URL {url:?}: {reason}")]
    AlertmanagerUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// One push to an Alertmanager failed (connection, timeout or a non-2xx
    /// answer). The pusher keeps what it could not deliver and retries.
    #[error("pushing alerts to {url}: {reason}")]
    Push {
        /// The `/api/v2/alerts` endpoint.
        url: String,
        /// What went wrong, with the answer's status and body when there was one.
        reason: String,
    },
    /// `serve` could not listen on its address.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The `--listen` address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The start-up load failed (an unreadable or invalid config).
    #[error("loading rules and config: {0}")]
    Load(String),
    /// The evaluation thread could not be started.
    #[error("starting the evaluation thread: {0}")]
    Thread(std::io::Error),
    /// Watching the rule directories or the config failed.
    #[error("watching rules and config: {0}")]
    Watch(notify::Error),
    /// A signal handler could not be installed.
    #[error("installing a signal handler: {0}")]
    Signal(std::io::Error),
}
