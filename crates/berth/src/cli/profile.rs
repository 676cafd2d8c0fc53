//! The AWS shared configuration files, read as the AWS CLI and SDKs read
//! them: `~/.aws/credentials` (`[NAME]`, or `AWS_SHARED_CREDENTIALS_FILE`)
//! and `~/.aws/config` (`[default]`/`[profile NAME]`, or `AWS_CONFIG_FILE`);
//! a key in the credentials file wins over the same key in the config file.

use ini::Ini;
use std::path::PathBuf;

/// What one profile says (each member optional).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Profile {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub ca_bundle: Option<PathBuf>,
}

/// Reads profile `name` from the texts of the credentials and config files
/// (either may be missing). `None` when neither file has the profile.
pub fn find(name: &str, credentials: Option<&str>, config: Option<&str>) -> Result<Option<Profile>, String> {
    let parse = |text: Option<&str>, file: &str| -> Result<Option<Ini>, String> {
        text.map(|t| Ini::load_from_str(t).map_err(|e| format!("the AWS {file} file cannot be parsed: {e}")))
            .transpose()
    };
    let creds = parse(credentials, "credentials")?;
    let conf = parse(config, "config")?;
    let creds_section = creds.as_ref().and_then(|i| i.section(Some(name)));
    let config_name = if name == "default" {
        "default".to_string()
    } else {
        format!("profile {name}")
    };
    let conf_section = conf.as_ref().and_then(|i| i.section(Some(config_name.as_str())));
    if creds_section.is_none() && conf_section.is_none() {
        return Ok(None);
    }
    let get = |key: &str| {
        creds_section
            .and_then(|s| s.get(key))
            .or_else(|| conf_section.and_then(|s| s.get(key)))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Ok(Some(Profile {
        access_key_id: get("aws_access_key_id"),
        secret_access_key: get("aws_secret_access_key"),
        session_token: get("aws_session_token"),
        region: get("region"),
        endpoint_url: get("endpoint_url"),
        ca_bundle: get("ca_bundle").map(PathBuf::from),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_read_as_the_aws_cli_reads_them() {
        let creds = "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = sd\n\n[dev]\naws_access_key_id=AKIADEV\naws_secret_access_key=sdev\n";
        let conf = "[default]\nregion = eu-west-1\n[profile dev]\nregion = us-west-2\nendpoint_url = http://127.0.0.1:4600\naws_access_key_id = IGNORED\n";
        let d = find("default", Some(creds), Some(conf)).unwrap().unwrap();
        assert_eq!(d.access_key_id.as_deref(), Some("AKIADEFAULT"));
        assert_eq!(d.region.as_deref(), Some("eu-west-1"));
        let dev = find("dev", Some(creds), Some(conf)).unwrap().unwrap();
        assert_eq!(
            dev.access_key_id.as_deref(),
            Some("AKIADEV"),
            "the credentials file wins"
        );
        assert_eq!(dev.endpoint_url.as_deref(), Some("http://127.0.0.1:4600"));
        assert_eq!(dev.region.as_deref(), Some("us-west-2"));
        assert_eq!(find("nope", Some(creds), Some(conf)).unwrap(), None);
        assert_eq!(find("default", None, None).unwrap(), None);
        // `[dev]` in the config file is not the profile dev (the CLI wants `[profile dev]`).
        assert_eq!(find("dev", None, Some("[dev]\nregion = x\n")).unwrap(), None);
    }
}
