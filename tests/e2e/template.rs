//! `manage lambda template`: the AWS SAM template for the example site, checked for what the
//! site registered, and by `sam validate --lint` (aws-sam-cli, offline) when it is installed.

use std::process::Command;

use crate::manage_bin;

fn template(args: &[&str]) -> String {
    let out = Command::new(manage_bin()).args(["lambda", "template"]).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_template_holds_the_function_and_every_trigger_the_site_registered() {
    let t = template(&[]);
    for part in [
        "Transform: AWS::Serverless-2016-10-31",
        "Runtime: provided.al2023",
        "Handler: bootstrap",
        "Architectures: [x86_64]",
        "FunctionUrlConfig:\n        AuthType: NONE",
        "SECRET_KEY: !Ref SecretKey",
        "DEBUG: \"false\"",
        "SECURE_PROXY_SSL_HEADER: \"X-Forwarded-Proto: https\"",
        // The CRM's schedule, with the input that names its task.
        "Schedule: \"cron(0 7 ? * MON-FRI *)\"\n            Input: \"{\\\"task\\\":\\\"pipeline-snapshot\\\"}\"",
        // Its queue, whose failed records alone are retried.
        "Queue: !GetAtt LeadsQueue.Arn",
        "FunctionResponseTypes: [ReportBatchItemFailures]",
        "QueueName: \"leads\"\n      VisibilityTimeout: 180",
        // A message that keeps failing goes to a dead-letter queue after more deliveries than
        // any task's attempts (the CRM's task has 4), not round forever.
        "RedrivePolicy:\n        deadLetterTargetArn: !GetAtt LeadsDeadLetterQueue.Arn\n        maxReceiveCount: 6",
        "LeadsDeadLetterQueue:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: \"leads-dead-letters\"\n      \
         MessageRetentionPeriod: 1209600",
        "Bucket: !Ref UploadsBucket",
        "Topic: !Ref NotificationsTopic",
        "Value: !GetAtt SiteUrl.FunctionUrl",
        // The health app's probe, for a load balancer's HealthCheckPath.
        "ReadinessUrl:\n    Description: The health app's readiness probe",
        "Value: !Join [\"\", [!GetAtt SiteUrl.FunctionUrl, \"readyz\"]]",
    ] {
        assert!(t.contains(part), "the template lacks {part:?}:\n{t}");
    }
    let api = template(&["--http-api", "--arm64", "--memory", "1024", "--timeout", "60"]);
    assert!(api.contains("Type: HttpApi") && !api.contains("FunctionUrlConfig"), "{api}");
    assert!(api.contains("Architectures: [arm64]") && api.contains("MemorySize: 1024"), "{api}");
    assert!(api.contains("execute-api.${AWS::Region}.${AWS::URLSuffix}/readyz\""), "{api}");
    assert!(api.contains("VisibilityTimeout: 360"), "the queue outlasts the function's timeout:\n{api}");

    // No pool size written: the default follows the invocations an instance serves at once.
    assert!(!t.contains("DATABASE_POOL_SIZE"), "{t}");

    // Behind an RDS Proxy: the function in the database's VPC, DATABASE_URL made from the
    // proxy's endpoint and the secret the proxy reads, over TLS.
    let proxy = template(&["--rds-proxy"]);
    for part in [
        "Type: AWS::RDS::DBProxy",
        "EngineFamily: !FindInMap [DatabaseEngines, !Ref DatabaseEngine, Family]",
        "SecretArn: !Ref DatabaseSecretArn",
        "RequireTLS: true",
        "Type: AWS::RDS::DBProxyTargetGroup",
        "DBInstanceIdentifiers: [!Ref DatabaseInstance]",
        "Action: secretsmanager:GetSecretValue",
        "VpcConfig:\n        SubnetIds: !Ref SubnetIds\n        SecurityGroupIds: !Ref SecurityGroupIds",
        "{{resolve:secretsmanager:${DatabaseSecretArn}:SecretString:password}}@${DatabaseProxy.Endpoint}:${Port}/",
        "Tls: sslmode=require",
        "Value: !GetAtt DatabaseProxy.Endpoint",
    ] {
        assert!(proxy.contains(part), "the RDS Proxy template lacks {part:?}:\n{proxy}");
    }
    assert!(!proxy.contains("DatabaseUrl") && t.contains("DATABASE_URL: !Ref DatabaseUrl"), "{proxy}");

    // Streaming: the Function URL's invoke mode, and the function told to match.
    let stream = template(&["--stream"]);
    assert!(
        stream.contains("FunctionUrlConfig:\n        AuthType: NONE\n        InvokeMode: RESPONSE_STREAM\n"),
        "{stream}"
    );
    assert!(stream.contains("LAMBDA_INVOKE_MODE: RESPONSE_STREAM"), "{stream}");
    assert!(!t.contains("InvokeMode") && !t.contains("LAMBDA_INVOKE_MODE"), "buffered by default:\n{t}");
    let api_stream =
        Command::new(manage_bin()).args(["lambda", "template", "--stream", "--http-api"]).output().unwrap();
    assert_eq!(api_stream.status.code(), Some(2), "an HTTP API does not stream");
    assert!(String::from_utf8_lossy(&api_stream.stderr).contains("cannot be used with"), "{api_stream:?}");

    let bad = Command::new(manage_bin()).args(["lambda", "template", "--memory", "64"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--memory must be 128 to 10240 MB"));
}

#[test]
#[ignore = "needs DJAMBDA_SAM (the `sam` of aws-sam-cli from PyPI; .ci/run installs it)"]
fn sam_validate_lint_accepts_the_templates() {
    let sam = std::env::var("DJAMBDA_SAM").expect("DJAMBDA_SAM");
    let dir = std::env::temp_dir().join(format!("djambda-sam-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (file, args) in [
        ("url.yaml", &[][..]),
        ("api.yaml", &["--http-api", "--arm64"][..]),
        ("proxy.yaml", &["--rds-proxy"][..]),
        ("stream.yaml", &["--stream"][..]),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, template(args)).unwrap();
        let out = Command::new(&sam)
            .args(["validate", "--lint", "--region", "us-east-1", "-t"])
            .arg(&path)
            .env("SAM_CLI_TELEMETRY", "0")
            .output()
            .unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && said.contains("is a valid SAM Template"), "{file}: {said}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
