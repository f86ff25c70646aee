//! Azure clouds: where ARM and the login endpoint live, and which audience tokens are for.

use serde_json::Value;
use url::Url;

use super::error::ArmError;

/// The api-version of ARM's metadata endpoint that answers the list of clouds.
/// <https://learn.microsoft.com/azure-stack/user/azure-stack-rest-api-use>
pub const METADATA_API_VERSION: &str = "2022-09-01";

/// The endpoints of one cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cloud {
    pub name: String,
    /// ARM's base URL, e.g. `https://management.azure.com/`.
    pub resource_manager: Url,
    /// The login authority, e.g. `https://login.microsoftonline.com/`; for ADFS ends in `/adfs`.
    pub login: Url,
    /// The audience (resource) tokens are requested for.
    pub audience: String,
    /// Azure Stack Hub with AD FS: tokens come from a v1-style endpoint with `resource=`, not `scope=`.
    pub adfs: bool,
}

fn url(s: &str) -> Url {
    // Only called on the literals below.
    Url::parse(s).unwrap_or_else(|e| panic!("built-in cloud URL {s:?} is invalid: {e}"))
}

impl Cloud {
    /// Azure public cloud. <https://learn.microsoft.com/azure/azure-government/compare-azure-government-global-azure>
    pub fn public() -> Self {
        Cloud {
            name: "public".into(),
            resource_manager: url("https://management.azure.com/"),
            login: url("https://login.microsoftonline.com/"),
            audience: "https://management.core.windows.net/".into(),
            adfs: false,
        }
    }

    /// Azure Government.
    pub fn us_government() -> Self {
        Cloud {
            name: "usgovernment".into(),
            resource_manager: url("https://management.usgovcloudapi.net/"),
            login: url("https://login.microsoftonline.us/"),
            audience: "https://management.core.usgovcloudapi.net/".into(),
            adfs: false,
        }
    }

    /// Azure operated by 21Vianet.
    pub fn china() -> Self {
        Cloud {
            name: "china".into(),
            resource_manager: url("https://management.chinacloudapi.cn/"),
            login: url("https://login.chinacloudapi.cn/"),
            audience: "https://management.core.chinacloudapi.cn/".into(),
            adfs: false,
        }
    }

    /// The cloud named as the azurerm provider names them (`public`, `usgovernment`, `china`).
    pub fn named(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "public" | "azurecloud" => Some(Self::public()),
            "usgovernment" | "azureusgovernment" | "azureusgovernmentcloud" => {
                Some(Self::us_government())
            }
            "china" | "azurechinacloud" => Some(Self::china()),
            _ => None,
        }
    }

    /// Reads ARM's `/metadata/endpoints` answer: the 2022-09-01 list of clouds (picking the one whose
    /// resource manager is `arm`, else the only one), or the older single object of Azure Stack Hub, whose
    /// resource manager is the host that answered.
    pub fn from_metadata(arm: &Url, body: &Value) -> Result<Self, String> {
        let entry = match body {
            Value::Array(items) => {
                let same_host = items.iter().find(|c| {
                    c.get("resourceManager")
                        .and_then(Value::as_str)
                        .and_then(|s| Url::parse(s).ok())
                        .is_some_and(|u| u.host_str() == arm.host_str() && u.port() == arm.port())
                });
                match (same_host, items.as_slice()) {
                    (Some(c), _) | (None, [c]) => c,
                    _ => {
                        return Err(format!(
                            "the metadata lists {} clouds and none has resourceManager {arm}",
                            items.len()
                        ))
                    }
                }
            }
            Value::Object(_) => body,
            _ => return Err("the metadata is neither a list of clouds nor a cloud".into()),
        };
        let auth = entry
            .get("authentication")
            .ok_or("the metadata has no \"authentication\" section")?;
        let login = auth
            .get("loginEndpoint")
            .and_then(Value::as_str)
            .ok_or("the metadata has no authentication.loginEndpoint")?;
        let login = Url::parse(login).map_err(|e| format!("loginEndpoint {login:?}: {e}"))?;
        let audience = auth
            .get("audiences")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .ok_or("the metadata has no authentication.audiences")?
            .to_string();
        let resource_manager = match entry.get("resourceManager").and_then(Value::as_str) {
            Some(rm) => Url::parse(rm).map_err(|e| format!("resourceManager {rm:?}: {e}"))?,
            None => arm.clone(),
        };
        let adfs = login
            .path()
            .trim_end_matches('/')
            .to_ascii_lowercase()
            .ends_with("/adfs")
            || auth
                .get("identityProvider")
                .and_then(Value::as_str)
                .is_some_and(|p| p.eq_ignore_ascii_case("ADFS"));
        Ok(Cloud {
            name: entry
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("custom")
                .to_string(),
            resource_manager: with_trailing_slash(resource_manager),
            login: with_trailing_slash(login),
            audience,
            adfs,
        })
    }

    /// Discovers a custom cloud from `{metadata_host}/metadata/endpoints`.
    pub async fn discover(http: &reqwest::Client, metadata_host: &Url) -> Result<Self, ArmError> {
        let mut endpoint = metadata_host.join("metadata/endpoints").map_err(config)?;
        endpoint
            .query_pairs_mut()
            .append_pair("api-version", METADATA_API_VERSION);
        let transport = |e: reqwest::Error| ArmError::Transport {
            host: metadata_host.to_string(),
            message: format!("metadata discovery: {e}"),
        };
        let resp = http.get(endpoint.clone()).send().await.map_err(transport)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(ArmError::Config(format!(
                "metadata discovery at {endpoint} answered HTTP {status}"
            )));
        }
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| ArmError::decode(format!("metadata from {endpoint}"), e))?;
        Cloud::from_metadata(metadata_host, &value)
            .map_err(|e| ArmError::Config(format!("metadata discovery at {endpoint}: {e}")))
    }

    /// The token endpoint for a tenant: v2 for Entra ID, the v1-style `/oauth2/token` for AD FS.
    pub fn token_url(&self, tenant_id: &str) -> Result<Url, ArmError> {
        let path = if self.adfs {
            "oauth2/token".to_string()
        } else {
            format!("{tenant_id}/oauth2/v2.0/token")
        };
        self.login.join(&path).map_err(config)
    }

    /// The v2 scope for ARM: the audience with `/.default`.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.audience.trim_end_matches('/'))
    }
}

fn config(e: url::ParseError) -> ArmError {
    ArmError::Config(e.to_string())
}

fn with_trailing_slash(mut u: Url) -> Url {
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_clouds_use_their_own_endpoints() {
        assert_eq!(Cloud::named("public"), Some(Cloud::public()));
        assert_eq!(
            Cloud::named("USGovernment").map(|c| c.login.to_string()),
            Some("https://login.microsoftonline.us/".into())
        );
        assert_eq!(
            Cloud::named("china").map(|c| c.audience),
            Some("https://management.core.chinacloudapi.cn/".into())
        );
        assert_eq!(Cloud::named("german"), None);
        assert_eq!(
            Cloud::public().scope(),
            "https://management.core.windows.net/.default"
        );
    }

    #[test]
    fn picks_the_cloud_whose_resource_manager_answered() {
        let arm = Url::parse("https://management.example.test/").expect("url");
        let body = json!([
            {"name": "Other", "resourceManager": "https://management.azure.com/",
             "authentication": {"loginEndpoint": "https://login.microsoftonline.com", "audiences": ["a"]}},
            {"name": "Mine", "resourceManager": "https://management.example.test/",
             "authentication": {"loginEndpoint": "https://login.example.test", "audiences": ["https://management.example.test/"]}}
        ]);
        let cloud = Cloud::from_metadata(&arm, &body).expect("valid metadata");
        assert_eq!(cloud.name, "Mine");
        assert_eq!(cloud.login.as_str(), "https://login.example.test/");
        assert!(!cloud.adfs);
        assert_eq!(
            cloud.token_url("t1").expect("url").as_str(),
            "https://login.example.test/t1/oauth2/v2.0/token"
        );
    }

    #[test]
    fn azure_stack_hub_with_adfs_uses_v1_token_requests() {
        let arm = Url::parse("https://management.local.azurestack.external/").expect("url");
        let body = json!({
            "galleryEndpoint": "https://x/",
            "authentication": {"loginEndpoint": "https://adfs.local.azurestack.external/adfs",
                               "audiences": ["https://management.adfs.azurestack.local/0123"]}
        });
        let cloud = Cloud::from_metadata(&arm, &body).expect("valid metadata");
        assert!(cloud.adfs);
        assert_eq!(cloud.resource_manager, arm);
        assert_eq!(
            cloud.token_url("ignored").expect("url").as_str(),
            "https://adfs.local.azurestack.external/adfs/oauth2/token"
        );
    }

    #[test]
    fn incomplete_metadata_says_what_is_missing() {
        let arm = Url::parse("http://127.0.0.1:1/").expect("url");
        let e = Cloud::from_metadata(&arm, &json!({"authentication": {}})).expect_err("incomplete");
        assert!(e.contains("loginEndpoint"), "{e}");
        let e = Cloud::from_metadata(&arm, &json!([{}, {}])).expect_err("ambiguous");
        assert!(e.contains("2 clouds"), "{e}");
    }
}
