//! From the URL a user gives (a discovery URL, an API root or a collection) to the collections behind it.
//! What the URL is comes from what it answers, not from its shape: servers lay out their paths freely.

use reqwest::Url;
use serde_json::Value;

use super::{ClientError, Remote};
use crate::taxii::resources::{ApiRoot, Collection, Collections, Discovery};

/// A collection of a remote server.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteCollection {
    /// `{api root}collections/{id}/`.
    pub url: Url,
    pub api_root: Url,
    pub resource: Collection,
}

impl RemoteCollection {
    pub fn objects_url(&self) -> Url {
        self.url
            .join("objects/")
            .expect("a relative path joins onto an http URL")
    }

    pub fn status_url(&self, status_id: &str) -> Result<Url, ClientError> {
        self.api_root
            .join(&format!("status/{status_id}/"))
            .map_err(|e| ClientError::Invalid {
                url: self.api_root.to_string(),
                reason: format!("the status id {status_id:?} makes no URL: {e}"),
            })
    }
}

/// Parses a URL given by a user, and adds the trailing `/` TAXII paths end in.
pub fn parse_url(text: &str) -> Result<Url, ClientError> {
    let mut url = Url::parse(text)
        .map_err(|e| ClientError::Options(format!("{text:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ClientError::Options(format!(
            "{text:?} is not an http or https URL"
        )));
    }
    with_slash(&mut url);
    Ok(url)
}

fn with_slash(url: &mut Url) {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
}

/// Every collection behind `url`: itself if it is a collection; those of an API root; those of every API
/// root of a discovery resource. API roots that fail are logged and left out, unless all of them fail.
pub async fn resolve(remote: &Remote, url: &Url) -> Result<Vec<RemoteCollection>, ClientError> {
    let (_, resource): (_, Value) = remote.get_json(url, &[]).await?;
    let invalid = |reason: String| ClientError::Invalid {
        url: url.to_string(),
        reason,
    };
    if resource.get("can_read").is_some() {
        let collection: Collection = serde_json::from_value(resource)
            .map_err(|e| invalid(format!("not a collection resource: {e}")))?;
        let api_root = url.join("../../").map_err(|e| invalid(e.to_string()))?;
        // By id, not by the alias the user may have given: checkpoints are kept per collection URL.
        return Ok(vec![collection_at(&api_root, collection, url)?]);
    }
    if resource.get("versions").is_some() {
        return collections(remote, url).await;
    }
    let discovery: Discovery = serde_json::from_value(resource).map_err(|e| {
        invalid(format!(
            "neither a discovery resource, an API root nor a collection: {e}"
        ))
    })?;
    let roots = discovery.api_roots.unwrap_or_default();
    if roots.is_empty() {
        return Err(ClientError::NoCollection(format!(
            "the discovery resource at {url} lists no API root"
        )));
    }
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for root in roots {
        let mut root_url = url
            .join(&root)
            .map_err(|e| invalid(format!("the API root {root:?} makes no URL: {e}")))?;
        with_slash(&mut root_url);
        match collections(remote, &root_url).await {
            Ok(mut collections) => found.append(&mut collections),
            Err(error) => {
                tracing::warn!(api_root = %root_url, %error, "leaving out an API root");
                failures.push(error.to_string());
            }
        }
    }
    if found.is_empty() && !failures.is_empty() {
        return Err(ClientError::NoCollection(format!(
            "no API root of {url} could be read: {}",
            failures.join("; ")
        )));
    }
    Ok(found)
}

/// The collections of an API root.
async fn collections(
    remote: &Remote,
    api_root: &Url,
) -> Result<Vec<RemoteCollection>, ClientError> {
    let list_url = api_root
        .join("collections/")
        .expect("a relative path joins onto an http URL");
    let (_, list): (_, Collections) = remote.get_json(&list_url, &[]).await?;
    list.collections
        .unwrap_or_default()
        .into_iter()
        .map(|resource| collection_at(api_root, resource, &list_url))
        .collect()
}

/// The collection `resource` of `api_root`, as `from` describes it.
fn collection_at(
    api_root: &Url,
    resource: Collection,
    from: &Url,
) -> Result<RemoteCollection, ClientError> {
    let url = api_root
        .join(&format!("collections/{}/", resource.id))
        .map_err(|e| ClientError::Invalid {
            url: from.to_string(),
            reason: format!("the collection id {:?} makes no URL: {e}", resource.id),
        })?;
    Ok(RemoteCollection {
        url,
        api_root: api_root.clone(),
        resource,
    })
}

/// The API root's information, for its `max_content_length`.
pub async fn api_root(remote: &Remote, url: &Url) -> Result<ApiRoot, ClientError> {
    remote.get_json(url, &[]).await.map(|(_, root)| root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_their_trailing_slash_and_must_be_http() {
        assert_eq!(
            parse_url("http://h:1/api/collections/x").unwrap().as_str(),
            "http://h:1/api/collections/x/"
        );
        assert_eq!(
            parse_url("https://h/taxii2/").unwrap().as_str(),
            "https://h/taxii2/"
        );
        assert!(
            parse_url("ftp://h/")
                .unwrap_err()
                .to_string()
                .contains("not an http")
        );
        assert!(
            parse_url("nope")
                .unwrap_err()
                .to_string()
                .contains("not a URL")
        );
    }

    #[test]
    fn the_api_root_of_a_collection_is_two_levels_up() {
        let url = parse_url("http://h/a/b/collections/x/").unwrap();
        assert_eq!(url.join("../../").unwrap().as_str(), "http://h/a/b/");
    }
}
