//! A console user's browser over plain HTTP, for the console tests and the console
//! bench: keeps its cookies, follows no redirects, reads server-sent events.
#![allow(dead_code)] // the tests and the bench each use a part
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic on failure

use std::io::Read;

/// The password of every console user the tests and the bench add.
pub const PASSWORD: &str = "a long enough password";

/// A browser of the console: keeps its cookies, follows no redirects.
pub struct Browser {
    pub agent: ureq::Agent,
    pub base: String,
    pub cookies: Vec<(String, String)>,
}

pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub headers: ureq::http::HeaderMap,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .into();
        Self { agent, base: base.to_owned(), cookies: Vec::new() }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    pub fn keep(&mut self, mut response: ureq::http::Response<ureq::Body>) -> Answer {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        Answer {
            status: response.status().as_u16(),
            location: response.headers().get("location").map(|v| v.to_str().unwrap().to_owned()),
            headers: response.headers().clone(),
            body: response.body_mut().read_to_string().unwrap(),
        }
    }

    /// The response to a GET, its body unread (for an event stream).
    pub fn open(&self, path: &str) -> ureq::http::Response<ureq::Body> {
        self.agent
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .call()
            .unwrap()
    }

    pub fn get(&mut self, path: &str) -> Answer {
        let response = self.open(path);
        self.keep(response)
    }

    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send_form(form.iter().copied())
            .unwrap();
        self.keep(response)
    }

    /// The CSRF token of the last form of `page`.
    pub fn csrf(&mut self, page: &str) -> String {
        let body = self.get(page).body;
        let marker = "name=\"csrf\" value=\"";
        let start = body.rfind(marker).expect("a form with a CSRF token") + marker.len();
        body[start..start + 64].to_owned()
    }

    pub fn sign_in_as(&mut self, name: &str, password: &str) -> Answer {
        let csrf = self.csrf("/console/sign-in");
        self.post("/console/sign-in", &[("name", name), ("password", password), ("csrf", &csrf)])
    }

    pub fn signed_in(base: &str, name: &str) -> Self {
        let mut browser = Self::new(base);
        let answer = browser.sign_in_as(name, PASSWORD);
        assert_eq!((answer.status, answer.location.as_deref()), (303, Some("/console/fleet")));
        browser
    }
}

/// The first event of a server-sent event stream: its name and data.
pub fn first_event(response: ureq::http::Response<ureq::Body>) -> (String, String) {
    EventStream::new(response).next_event()
}

/// The events of a server-sent event stream, one at a time, as they arrive.
pub struct EventStream {
    reader: Box<dyn Read>,
    text: String,
}

impl EventStream {
    pub fn new(response: ureq::http::Response<ureq::Body>) -> Self {
        Self { reader: Box::new(response.into_body().into_reader()), text: String::new() }
    }

    /// The next event's name and data (waits for it).
    pub fn next_event(&mut self) -> (String, String) {
        let mut buffer = [0u8; 4096];
        while !self.text.contains("\n\n") {
            let n = self.reader.read(&mut buffer).unwrap();
            assert!(n > 0, "the stream ended: {}", self.text);
            self.text.push_str(std::str::from_utf8(&buffer[..n]).unwrap());
        }
        let (event, rest) = self.text.split_once("\n\n").unwrap();
        let field = |name: &str| -> String {
            event
                .lines()
                .filter_map(|line| line.strip_prefix(name))
                .map(|v| v.trim_start())
                .collect::<Vec<_>>()
                .join("\n")
        };
        let answer = (field("event:"), field("data:"));
        self.text = rest.to_owned();
        answer
    }
}
