//! HAL lists: a page's `_embedded` items, counts and `_links.next`, and the [`Paginator`] that follows
//! `next` until it is absent, as a state machine: it says which request to send, reads each answer, and
//! stops at another origin, at a page it has read already, or at its page bound.

use std::collections::{HashSet, VecDeque};

use http::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value};
use url::Url;

use super::{ApiError, ApiGateway};

/// One page of a HAL list: its items and where the next page is.
#[derive(Debug, Clone, PartialEq)]
pub struct HalPage {
    items: Vec<Value>,
    next: Option<Url>,
    total: Option<u64>,
    count: Option<u64>,
    page: Option<u64>,
    per_page: Option<u64>,
}

impl HalPage {
    /// Reads a list page received from `url`. The items are the array under `_embedded`: the one named
    /// `embedded` if given, else the only array there is (Talkdesk names it after the resource, e.g.
    /// `users`). A relative `_links.next.href` is resolved against `url`.
    pub fn parse(status: StatusCode, body: &[u8], url: &Url, embedded: Option<&str>) -> Result<Self, ApiError> {
        let malformed = |reason: String| ApiError::Malformed { status, reason };
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        let value: Value =
            serde_json::from_slice(body).map_err(|err| malformed(td_oauth_core::text::json_problem(body, &err)))?;
        let Value::Object(mut object) = value else {
            return Err(malformed("the list is not a JSON object".into()));
        };
        // The items are moved out of the parsed page, not copied: a page is most of what an API call costs
        // the client.
        let items = match object.remove("_embedded") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(embedded_map)) => pick_items(embedded_map, embedded).map_err(malformed)?,
            Some(_) => return Err(malformed("`_embedded` is not an object".into())),
        };
        let next = match object.get("_links").and_then(|links| links.get("next")) {
            None | Some(Value::Null) => None,
            Some(next) => {
                let href = next
                    .get("href")
                    .and_then(Value::as_str)
                    .ok_or_else(|| malformed("`_links.next` has no `href` string".into()))?;
                let next =
                    url.join(href).map_err(|err| malformed(format!("`_links.next.href` is not a URL ({err})")))?;
                Some(next)
            }
        };
        let number = |name: &str| object.get(name).and_then(Value::as_u64);
        Ok(HalPage {
            items,
            next,
            total: number("total"),
            count: number("count"),
            page: number("page"),
            per_page: number("per_page"),
        })
    }

    /// The page's items.
    pub fn items(&self) -> &[Value] {
        &self.items
    }

    /// The page's items, owned.
    pub fn into_items(self) -> Vec<Value> {
        self.items
    }

    /// `_links.next`, resolved: where the next page is, if there is one.
    pub fn next(&self) -> Option<&Url> {
        self.next.as_ref()
    }

    /// `total`: items in the whole list, when sent.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// `count`: items on this page, when sent.
    pub fn count(&self) -> Option<u64> {
        self.count
    }

    /// `page`, when sent.
    pub fn page(&self) -> Option<u64> {
        self.page
    }

    /// `per_page`, when sent.
    pub fn per_page(&self) -> Option<u64> {
        self.per_page
    }
}

fn pick_items(mut embedded: Map<String, Value>, wanted: Option<&str>) -> Result<Vec<Value>, String> {
    let names = |embedded: &Map<String, Value>| {
        embedded.keys().map(|k| format!("`{}`", td_oauth_core::text::excerpt(k))).collect::<Vec<_>>().join(", ")
    };
    let name = match wanted {
        Some(name) => name.to_owned(),
        None => {
            let mut arrays = embedded.iter().filter(|(_, v)| v.is_array()).map(|(name, _)| name);
            match (arrays.next(), arrays.next()) {
                (Some(name), None) => name.clone(),
                (None, _) => return Err("`_embedded` holds no array of items".into()),
                _ => {
                    return Err(format!(
                        "`_embedded` holds several arrays ({}); name the one to read",
                        names(&embedded)
                    ));
                }
            }
        }
    };
    match embedded.remove(&name) {
        Some(Value::Array(items)) => Ok(items),
        Some(Value::Object(item)) => Ok(vec![Value::Object(item)]),
        Some(_) => Err(format!("`_embedded.{}` is not an array", td_oauth_core::text::excerpt(&name))),
        None => {
            Err(format!("`_embedded` has no `{}`; it has {}", td_oauth_core::text::excerpt(&name), names(&embedded)))
        }
    }
}

/// What the paginator does after a page.
#[derive(Debug, Clone)]
enum Next {
    /// Send this request next.
    Request(Url),
    /// Waiting for the answer to the request sent.
    Waiting(Url),
    /// Nothing more to read.
    Done,
    /// Stop with this error (the page before it was still yielded).
    Stop(ApiError),
}

/// Follows a HAL list's `_links.next` until it is absent, sans-IO: [`next_request`](Self::next_request)
/// gives the request to send (without `Authorization`; the transport adds its token), and
/// [`read_page`](Self::read_page) takes the answer and returns that page's items. Page numbers are never
/// built: the server's `next` is followed as Talkdesk documents, but only on the gateway's origin (the
/// token goes with it), never to a page already read, and at most [`max_pages`](Self::with_max_pages).
///
/// ```
/// use td_oauth_api::{ApiGateway, Paginator};
///
/// let gateway = ApiGateway::from_url("https://api.talkdeskapp.com")?;
/// let mut pages = Paginator::new(gateway, "/users?per_page=2")?;
/// let request = pages.next_request()?.expect("a first page");
/// assert_eq!(request.uri(), "https://api.talkdeskapp.com/users?per_page=2");
/// let answer = http::Response::builder().status(200).body(
///     r#"{"total":3,"_embedded":{"users":[{"id":"a"},{"id":"b"}]},"_links":{"next":{"href":"https://api.talkdeskapp.com/users?page=2&per_page=2"}}}"#,
/// ).unwrap();
/// assert_eq!(pages.read_page(&answer)?.items().len(), 2);
/// let request = pages.next_request()?.expect("a second page");
/// assert_eq!(request.uri(), "https://api.talkdeskapp.com/users?page=2&per_page=2");
/// # Ok::<(), td_oauth_api::ApiError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Paginator {
    gateway: ApiGateway,
    next: Next,
    embedded: Option<String>,
    max_pages: usize,
    pages: usize,
    seen: HashSet<String>,
    buffered: VecDeque<Value>,
}

/// What to do next to walk a list item by item (see [`Paginator::next_step`]).
#[derive(Debug)]
pub enum PageStep {
    /// The next item.
    Item(Value),
    /// Send this request and hand its answer to [`Paginator::receive`].
    Fetch(Box<Request<Vec<u8>>>),
    /// The list is read.
    Done,
}

impl Paginator {
    /// The page bound unless set: 50 items a page by default, so 50 000 items.
    pub const DEFAULT_MAX_PAGES: usize = 1000;

    /// A paginator over the list at `path` on `gateway` (see [`ApiGateway::url_for`]).
    pub fn new(gateway: ApiGateway, path: &str) -> Result<Self, ApiError> {
        let first = gateway.url_for(path)?;
        Ok(Paginator {
            gateway,
            next: Next::Request(first),
            embedded: None,
            max_pages: Self::DEFAULT_MAX_PAGES,
            pages: 0,
            seen: HashSet::new(),
            buffered: VecDeque::new(),
        })
    }

    /// Reads the items under `_embedded.<name>` (default: the only array under `_embedded`).
    pub fn with_embedded(mut self, name: impl Into<String>) -> Self {
        self.embedded = Some(name.into());
        self
    }

    /// Stops with [`ApiError::PageLimit`] rather than read more than `pages` pages (at least 1).
    pub fn with_max_pages(mut self, pages: usize) -> Self {
        self.max_pages = pages.max(1);
        self
    }

    /// Pages read so far.
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// Whether the list is read to its end (or stopped).
    pub fn is_done(&self) -> bool {
        matches!(self.next, Next::Done)
    }

    /// Item by item: the next item of the page read last, else the request for the next page, else done.
    /// `Err` when the paginator stopped (see [`next_request`](Self::next_request)).
    pub fn next_step(&mut self) -> Result<PageStep, ApiError> {
        if let Some(item) = self.buffered.pop_front() {
            return Ok(PageStep::Item(item));
        }
        Ok(match self.next_request()? {
            Some(request) => PageStep::Fetch(Box::new(request)),
            None => PageStep::Done,
        })
    }

    /// Reads the answer to a [`PageStep::Fetch`]: its items come out of the next
    /// [`next_step`](Self::next_step)s.
    pub fn receive<B: AsRef<[u8]>>(&mut self, response: &Response<B>) -> Result<(), ApiError> {
        let page = self.read_page(response)?;
        self.buffered.extend(page.into_items());
        Ok(())
    }

    /// The next request to send: `Ok(None)` at the end of the list, `Err` when the paginator stopped
    /// (another origin, a loop, the page bound); after an `Err` it is done. Asking again before the answer
    /// was read gives the same request again.
    pub fn next_request(&mut self) -> Result<Option<Request<Vec<u8>>>, ApiError> {
        let url = match std::mem::replace(&mut self.next, Next::Done) {
            Next::Done => return Ok(None),
            Next::Stop(err) => return Err(err),
            Next::Request(url) | Next::Waiting(url) => url,
        };
        let uri = http::Uri::try_from(url.as_str()).map_err(|err| ApiError::Build(err.to_string()))?;
        let request = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|err| ApiError::Build(err.to_string()))?;
        self.next = Next::Waiting(url);
        Ok(Some(request))
    }

    /// Reads the answer to the last request: the page (whose items to yield), or the error the answer
    /// stands for (then the paginator is done). What to send next is decided here and given by
    /// [`next_request`](Self::next_request).
    pub fn read_page<B: AsRef<[u8]>>(&mut self, response: &Response<B>) -> Result<HalPage, ApiError> {
        let url = match std::mem::replace(&mut self.next, Next::Done) {
            Next::Waiting(url) => url,
            other => {
                self.next = other;
                return Err(ApiError::Build("read_page called without a request sent by next_request".into()));
            }
        };
        if !response.status().is_success() {
            return Err(ApiError::from_response(response));
        }
        let page = HalPage::parse(response.status(), response.body().as_ref(), &url, self.embedded.as_deref())?;
        self.pages = self.pages.saturating_add(1);
        self.seen.insert(url.as_str().to_owned());
        self.next = match page.next() {
            None => Next::Done,
            Some(next) if !self.gateway.is_same_origin(next) => Next::Stop(ApiError::ForeignNext {
                origin: next.origin().ascii_serialization(),
                gateway: self.gateway.origin(),
            }),
            Some(next) if self.seen.contains(next.as_str()) => Next::Stop(ApiError::PageLimit {
                pages: self.pages,
                reason: "_links.next points back at a page already read".into(),
            }),
            Some(_) if self.pages >= self.max_pages => Next::Stop(ApiError::PageLimit {
                pages: self.pages,
                reason: format!("the list has more than {} pages (the paginator's bound)", self.max_pages),
            }),
            Some(next) => Next::Request(next.clone()),
        };
        Ok(page)
    }
}
