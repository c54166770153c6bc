//! How the Lambda door answers HTTP invocations (LAMBDA_INVOKE_MODE).

/// How the function's HTTP responses go back to the Lambda service: the `InvokeMode` of the
/// Function URL in front of it (LAMBDA_INVOKE_MODE, with AWS's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvokeMode {
    /// `BUFFERED` (the default, and the only mode of API Gateway and ALB): each response is one
    /// payload of at most 6 MB; a streamed body is read whole first, and past the limit the
    /// answer is a 500 that says why in the log.
    #[default]
    Buffered,
    /// `RESPONSE_STREAM`: a Function URL in streaming mode. Every response to a request that came
    /// through a Function URL is sent as it is produced, in chunks (the CSV export a batch at a
    /// time), up to Lambda's 200 MB, never whole in memory. API Gateway and ALB requests, and
    /// events that are not HTTP requests (schedules, queues, `manage`), are answered whole as
    /// before. `manage lambda template --stream` sets it beside the URL's invoke mode.
    ResponseStream,
}

impl InvokeMode {
    /// Reads the setting's value, AWS's spelling in any case.
    pub(crate) fn parse(raw: &str) -> Result<InvokeMode, String> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "" | "BUFFERED" => Ok(InvokeMode::Buffered),
            "RESPONSE_STREAM" => Ok(InvokeMode::ResponseStream),
            _ => Err(format!(
                "LAMBDA_INVOKE_MODE must be \"BUFFERED\" or \"RESPONSE_STREAM\", as the Function URL's InvokeMode is \
                 (got {raw:?})"
            )),
        }
    }
}
