//! `manage lambda template`: an AWS SAM template for the whole site as one function: the
//! function (its `bootstrap` from `cargo lambda build`), a Function URL or an HTTP API, a
//! schedule for each task the site registered, a queue and its trigger for each SQS consumer,
//! a bucket for an S3 handler and a topic for an SNS handler, and the environment the settings
//! need, with the secrets as parameters; with `--rds-proxy`, an RDS Proxy in front of the
//! database, so that however many instances run, the database sees the proxy's pool; with
//! `--stream`, a Function URL that streams responses.

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::site::Site;

/// What the command line asked for.
pub(crate) struct Options {
    pub(crate) output: Option<std::path::PathBuf>,
    pub(crate) memory: u32,
    pub(crate) timeout: u32,
    pub(crate) arm64: bool,
    pub(crate) http_api: bool,
    pub(crate) rds_proxy: bool,
    pub(crate) stream: bool,
    pub(crate) code_uri: String,
}

/// A YAML double-quoted scalar: JSON's string syntax is one.
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// `leads-queue` → `LeadsQueue`: a CloudFormation logical id.
fn logical_id(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

pub(crate) fn render(site: &Site, o: &Options) -> Result<String, String> {
    if !(128..=10240).contains(&o.memory) {
        return Err(format!("--memory must be 128 to 10240 MB (got {})", o.memory));
    }
    if !(1..=900).contains(&o.timeout) {
        return Err(format!("--timeout must be 1 to 900 seconds (got {})", o.timeout));
    }
    let settings = site.settings();
    let events = site.events();
    let name = settings.get("COMPANY_NAME").and_then(|v| v.as_str()).unwrap_or("A djambda site");
    let mut t = String::new();
    let w = &mut t;
    writeln!(w, "AWSTemplateFormatVersion: \"2010-09-09\"").unwrap();
    writeln!(w, "Transform: AWS::Serverless-2016-10-31").unwrap();
    writeln!(w, "Description: {}", q(&format!("{name}: a djambda site as one Lambda function"))).unwrap();
    writeln!(w, "# Written by `manage lambda template`. Build the bootstrap first:").unwrap();
    writeln!(
        w,
        "#   cargo lambda build --release{} --package <site> --bin manage",
        if o.arm64 { " --arm64" } else { "" }
    )
    .unwrap();
    w.push_str(
        "\nParameters:\n  SecretKey:\n    Type: String\n    NoEcho: true\n    MinLength: 50\n    Description: \
         \"SECRET_KEY: a long random string, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(50))'\"\n  \
         AllowedHosts:\n    Type: String\n    Default: \"*\"\n    Description: \"ALLOWED_HOSTS: the site's host names, \
         comma-separated (the Function URL or API domain, or a custom domain)\"\n",
    );
    if o.rds_proxy {
        w.push_str(RDS_PROXY_PARAMETERS);
    } else {
        w.push_str(
            "  DatabaseUrl:\n    Type: String\n    NoEcho: true\n    Description: \"DATABASE_URL: postgres://user:password@host/db \
             or mysql://… (an SQLite file in /tmp lasts only as long as one instance)\"\n",
        );
    }

    w.push_str("\nResources:\n  Site:\n    Type: AWS::Serverless::Function\n    Properties:\n");
    writeln!(w, "      CodeUri: {}", q(&o.code_uri)).unwrap();
    w.push_str("      Handler: bootstrap\n      Runtime: provided.al2023\n");
    writeln!(w, "      Architectures: [{}]", if o.arm64 { "arm64" } else { "x86_64" }).unwrap();
    writeln!(w, "      MemorySize: {}\n      Timeout: {}", o.memory, o.timeout).unwrap();
    w.push_str(
        "      Environment:\n        Variables:\n          DEBUG: \"false\"\n          SECRET_KEY: !Ref SecretKey\n",
    );
    if o.rds_proxy {
        // The proxy's endpoint, the user's password from the secret the proxy itself reads, and
        // TLS, which the proxy requires.
        w.push_str(
            "          DATABASE_URL: !Sub\n            - \"${DatabaseEngine}://${DatabaseUser}:\
             {{resolve:secretsmanager:${DatabaseSecretArn}:SecretString:password}}@${DatabaseProxy.Endpoint}:${Port}/\
             ${DatabaseName}?${Tls}\"\n            - Port: !FindInMap [DatabaseEngines, !Ref DatabaseEngine, Port]\n              \
             Tls: !FindInMap [DatabaseEngines, !Ref DatabaseEngine, Tls]\n",
        );
    } else {
        w.push_str("          DATABASE_URL: !Ref DatabaseUrl\n");
    }
    w.push_str("          ALLOWED_HOSTS: !Ref AllowedHosts\n");
    if o.stream {
        // The function must know: a streaming URL reads the stream's prelude, not a JSON answer.
        w.push_str("          LAMBDA_INVOKE_MODE: RESPONSE_STREAM\n");
    }
    // No DATABASE_POOL_SIZE: by default one connection per invocation an instance serves at
    // once, which the runtime says (AWS_LAMBDA_MAX_CONCURRENCY) and the template cannot know.
    // Function URLs and API Gateway speak HTTPS to clients and say so in this header.
    w.push_str("          SECURE_PROXY_SSL_HEADER: \"X-Forwarded-Proto: https\"\n");
    if !settings.static_url.starts_with('/') {
        writeln!(w, "          STATIC_URL: {}", q(&settings.static_url)).unwrap();
    }
    // A queue the function sends to as well as consumes: its URL, and the right to send to it
    // and to put a message off (a retry's backoff).
    let senders: Vec<(&str, &str)> = events.queue_url_envs().collect();
    for (queue, env) in &senders {
        writeln!(w, "          {env}: !Ref {}Queue", logical_id(queue)).unwrap();
    }
    if !senders.is_empty() {
        w.push_str("      Policies:\n");
        for (queue, _) in &senders {
            let name = format!("!GetAtt {}Queue.QueueName", logical_id(queue));
            writeln!(w, "        - SQSSendMessagePolicy:\n            QueueName: {name}").unwrap();
            writeln!(w, "        - SQSPollerPolicy:\n            QueueName: {name}").unwrap();
        }
    }
    if o.rds_proxy {
        // In the database's VPC to reach the proxy; SQS, S3 and SNS are then reached through
        // VPC endpoints or a NAT gateway of that VPC (see the README's "Scaling out").
        w.push_str(
            "      VpcConfig:\n        SubnetIds: !Ref SubnetIds\n        SecurityGroupIds: !Ref SecurityGroupIds\n",
        );
    }
    if !o.http_api {
        w.push_str("      FunctionUrlConfig:\n        AuthType: NONE\n");
        if o.stream {
            w.push_str("        InvokeMode: RESPONSE_STREAM\n");
        }
    }
    let mut triggers = String::new();
    let tw = &mut triggers;
    if o.http_api {
        tw.push_str("        Http:\n          Type: HttpApi\n");
    }
    for (task, when) in events.schedules() {
        writeln!(tw, "        {}Schedule:\n          Type: Schedule\n          Properties:", logical_id(task)).unwrap();
        writeln!(tw, "            Schedule: {}", q(when)).unwrap();
        writeln!(tw, "            Input: {}", q(&serde_json::json!({ "task": task }).to_string())).unwrap();
    }
    let queues: Vec<&str> = events.queue_names().filter(|q| *q != "*").collect();
    for queue in &queues {
        writeln!(tw, "        {}Messages:\n          Type: SQS\n          Properties:", logical_id(queue)).unwrap();
        writeln!(tw, "            Queue: !GetAtt {}Queue.Arn", logical_id(queue)).unwrap();
        // Failed records are listed in the answer: only they are retried.
        tw.push_str("            BatchSize: 10\n            FunctionResponseTypes: [ReportBatchItemFailures]\n");
    }
    if events.has_s3() {
        tw.push_str(
            "        Uploads:\n          Type: S3\n          Properties:\n            Bucket: !Ref UploadsBucket\n",
        );
        tw.push_str("            Events: s3:ObjectCreated:*\n");
    }
    if events.has_sns() {
        tw.push_str("        Notifications:\n          Type: SNS\n          Properties:\n            Topic: !Ref NotificationsTopic\n");
    }
    if !triggers.is_empty() {
        w.push_str("      Events:\n");
        w.push_str(&triggers);
    }
    // A message that keeps failing (one that is no task, a consumer's that always errs) is
    // moved to a dead-letter queue after this many deliveries, to be looked at rather than
    // retried forever. Above every task's attempts: a task's last attempt writes it down as
    // failed and lets its message go before then.
    let most_attempts = site
        .state::<crate::tasks::Registry>()
        .map_or(0, |r| r.0.values().map(|t| t.options.max_attempts).max().unwrap_or(0));
    let max_receive_count = most_attempts.saturating_add(2).max(5);
    for queue in &queues {
        let id = logical_id(queue);
        writeln!(w, "  {id}Queue:\n    Type: AWS::SQS::Queue\n    Properties:").unwrap();
        writeln!(w, "      QueueName: {}", q(queue)).unwrap();
        // AWS wants a queue's visibility timeout to be at least the function's (six times is its advice).
        writeln!(w, "      VisibilityTimeout: {}", (o.timeout * 6).min(43_200)).unwrap();
        writeln!(w, "      RedrivePolicy:\n        deadLetterTargetArn: !GetAtt {id}DeadLetterQueue.Arn").unwrap();
        writeln!(w, "        maxReceiveCount: {max_receive_count}").unwrap();
        writeln!(w, "  {id}DeadLetterQueue:\n    Type: AWS::SQS::Queue\n    Properties:").unwrap();
        writeln!(w, "      QueueName: {}", q(&format!("{queue}-dead-letters"))).unwrap();
        // Kept as long as SQS keeps anything: 14 days to look at what failed.
        w.push_str("      MessageRetentionPeriod: 1209600\n");
    }
    if o.rds_proxy {
        w.push_str(RDS_PROXY_RESOURCES);
    }
    if events.has_s3() {
        w.push_str("  UploadsBucket:\n    Type: AWS::S3::Bucket\n");
    }
    if events.has_sns() {
        w.push_str("  NotificationsTopic:\n    Type: AWS::SNS::Topic\n");
    }

    w.push_str("\nOutputs:\n  SiteUrl:\n    Description: Where the site answers\n");
    if o.http_api {
        w.push_str("    Value: !Sub \"https://${ServerlessHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/\"\n");
    } else {
        w.push_str("    Value: !GetAtt SiteUrl.FunctionUrl\n");
    }
    w.push_str(
        "  FunctionName:\n    Description: For `aws lambda invoke` (remote manage commands)\n    Value: !Ref Site\n",
    );
    if o.rds_proxy {
        w.push_str("  ProxyEndpoint:\n    Description: The RDS Proxy the function reaches the database through\n");
        w.push_str("    Value: !GetAtt DatabaseProxy.Endpoint\n");
    }
    if let Ok(ready) = site.reverse("health:ready", &[]) {
        // The health app's probe, for whatever watches the site: an Application Load Balancer
        // in front of the function (its target group's HealthCheckPath, with HealthCheckEnabled
        // for a Lambda target), Route 53 or an uptime monitor.
        let path = ready.trim_start_matches('/');
        w.push_str(
            "  ReadinessUrl:\n    Description: The health app's readiness probe (a load balancer's HealthCheckPath)\n",
        );
        if o.http_api {
            writeln!(w, "    Value: !Sub \"https://${{ServerlessHttpApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{path}\"")
                .unwrap();
        } else {
            writeln!(w, "    Value: !Join [\"\", [!GetAtt SiteUrl.FunctionUrl, {}]]", q(path)).unwrap();
        }
    }
    Ok(t)
}

/// The parameters `--rds-proxy` asks for instead of a DATABASE_URL: the RDS instance the proxy
/// fronts, the secret it logs in with, and the VPC it and the function live in.
const RDS_PROXY_PARAMETERS: &str = "  DatabaseEngine:
    Type: String
    AllowedValues: [postgres, mysql]
    Default: postgres
    Description: The RDS instance's engine (its proxy's engine family). Through RDS Proxy a MySQL connection that prepares a statement is pinned to its server connection, as sqlx's are; PostgreSQL's are lent a transaction at a time
  DatabaseInstance:
    Type: String
    Description: The RDS DB instance identifier the proxy fronts
  DatabaseSecretArn:
    Type: String
    Description: \"The Secrets Manager secret (JSON with username and password) of the site's database user, which the proxy logs in with. Not a rotated one (RDS's managed master user secret is): the function's DATABASE_URL gets the password at deploy time. The password must be URL-safe, as it goes into DATABASE_URL\"
  DatabaseUser:
    Type: String
    Description: The user in that secret
  DatabaseName:
    Type: String
    Description: The database on the instance
  SubnetIds:
    Type: List<AWS::EC2::Subnet::Id>
    Description: Subnets of the database's VPC, for the proxy and the function
  SecurityGroupIds:
    Type: List<AWS::EC2::SecurityGroup::Id>
    Description: Security groups for the proxy and the function (the proxy's must let the function in on the database's port)

Mappings:
  DatabaseEngines:
    postgres:
      Family: POSTGRESQL
      Port: \"5432\"
      Tls: sslmode=require
    mysql:
      Family: MYSQL
      Port: \"3306\"
      Tls: ssl-mode=required
";

/// The proxy, its target (the instance), and the role that lets it read the secret. The pool's
/// ceiling is a share of the instance's `max_connections`: every instance of the function
/// borrows from it a transaction at a time.
const RDS_PROXY_RESOURCES: &str = "  DatabaseProxyRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: \"2012-10-17\"
        Statement:
          - Effect: Allow
            Principal:
              Service: rds.amazonaws.com
            Action: sts:AssumeRole
      Policies:
        - PolicyName: ReadDatabaseSecret
          PolicyDocument:
            Version: \"2012-10-17\"
            Statement:
              - Effect: Allow
                Action: secretsmanager:GetSecretValue
                Resource: !Ref DatabaseSecretArn
  DatabaseProxy:
    Type: AWS::RDS::DBProxy
    Properties:
      DBProxyName: !Sub \"${AWS::StackName}-db\"
      EngineFamily: !FindInMap [DatabaseEngines, !Ref DatabaseEngine, Family]
      Auth:
        - AuthScheme: SECRETS
          SecretArn: !Ref DatabaseSecretArn
          IAMAuth: DISABLED
      RoleArn: !GetAtt DatabaseProxyRole.Arn
      RequireTLS: true
      VpcSubnetIds: !Ref SubnetIds
      VpcSecurityGroupIds: !Ref SecurityGroupIds
  DatabaseProxyTargets:
    Type: AWS::RDS::DBProxyTargetGroup
    Properties:
      DBProxyName: !Ref DatabaseProxy
      TargetGroupName: default
      DBInstanceIdentifiers: [!Ref DatabaseInstance]
      ConnectionPoolConfigurationInfo:
        MaxConnectionsPercent: 90
        MaxIdleConnectionsPercent: 10
        ConnectionBorrowTimeout: 30
";

pub(crate) fn template(site: &Site, o: &Options) -> ExitCode {
    let text = match render(site, o) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("CommandError: {e}");
            return ExitCode::from(2);
        }
    };
    match &o.output {
        None => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => {
                println!(
                    "Wrote {}. Deploy with: sam deploy --guided --template-file {}",
                    path.display(),
                    path.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("CommandError: could not write {}: {e}", path.display());
                ExitCode::FAILURE
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::logical_id;

    #[test]
    fn logical_ids_are_pascal_case() {
        assert_eq!(logical_id("pipeline-snapshot"), "PipelineSnapshot");
        assert_eq!(logical_id("leads"), "Leads");
        assert_eq!(logical_id("order_events"), "OrderEvents");
    }
}
