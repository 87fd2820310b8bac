//! Attendees: the input a desk, kiosk or CSV row gives, its validation, and the stored form.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::contact::{normalize_phone, validate_email};
use super::event::EventDefinition;
use super::id_document::{mask, IdDocument, IdType};
use super::{FieldError, FieldProblem};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AttendeeId(pub Uuid);

impl AttendeeId {
    /// A fresh id for a walk-in or self-service registration (UUIDv7: time-ordered).
    pub fn new_walk_in() -> Self {
        Self(Uuid::now_v7())
    }

    /// The id of a pre-registered attendee is derived from the event and the registration
    /// code, so every station that imports the same file agrees on it without talking.
    pub fn for_registration_code(event_id: &str, code: &str) -> Self {
        let digest = Sha256::new()
            .chain_update(b"expo-kiosk attendee\0")
            .chain_update(event_id.as_bytes())
            .chain_update([0])
            .chain_update(code.as_bytes())
            .finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(Uuid::new_v8(bytes))
    }
}

impl std::fmt::Display for AttendeeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    PreRegistered,
    WalkIn,
    SelfService,
}

impl Source {
    pub fn id(self) -> &'static str {
        match self {
            Source::PreRegistered => "pre_registered",
            Source::WalkIn => "walk_in",
            Source::SelfService => "self_service",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Source::PreRegistered, Source::WalkIn, Source::SelfService]
            .into_iter()
            .find(|s| s.id() == text)
    }
}

/// Registration input as typed by an operator or read from a CSV row: free text, not yet
/// validated. Its `Debug` masks the ID number.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NewAttendee {
    pub registration_code: String,
    pub name: String,
    pub company: String,
    pub title: String,
    pub category: String,
    pub phone: String,
    pub email: String,
    pub country: String,
    pub id_type: String,
    pub id_number: String,
    pub consent: bool,
    pub tags: Vec<String>,
    /// The holder's Chinese name beside `name`, when that is another (a foreign permanent
    /// residence card gives both: SMITH JOHN MICHAEL and 史密斯). Optional.
    pub chinese_name: String,
}

impl std::fmt::Debug for NewAttendee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAttendee")
            .field("registration_code", &self.registration_code)
            .field("name", &self.name)
            .field("company", &self.company)
            .field("title", &self.title)
            .field("category", &self.category)
            .field("phone", &self.phone)
            .field("email", &self.email)
            .field("country", &self.country)
            .field("id_type", &self.id_type)
            .field("id_number", &mask(self.id_number.trim()))
            .field("consent", &self.consent)
            .field("tags", &self.tags)
            .field("chinese_name", &self.chinese_name)
            .finish()
    }
}

/// 张三丰 → 张*丰, Anna Smith → Anna S., SMITH JOHN MICHAEL → SMITH J. M.: enough to
/// recognise oneself, not to learn a name. A name of words shows its first word and the
/// others' initials (a string of stars hides even which of one's names it is).
pub fn mask_name(name: &str) -> String {
    let mut words = name.split_whitespace();
    if let (Some(first), Some(_)) = (words.next(), words.clone().next()) {
        let initials =
            words.filter_map(|word| word.chars().next()).map(|initial| format!(" {initial}."));
        return std::iter::once(first.to_owned()).chain(initials).collect();
    }
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 | 1 => name.to_owned(),
        2 => format!("{}*", chars[0]),
        n => std::iter::once(chars[0])
            .chain(std::iter::repeat_n('*', n - 2))
            .chain(std::iter::once(chars[n - 1]))
            .collect(),
    }
}

/// The last four characters only: on a public screen, and in the hub's console for a
/// role without the personal-data permission.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().collect();
    if digits.len() <= 4 {
        return "*".repeat(digits.len());
    }
    std::iter::repeat_n('*', digits.len() - 4)
        .chain(digits[digits.len() - 4..].iter().copied())
        .collect()
}

/// A validated attendee ready to store. The ID document is kept whole here; the store
/// seals it before it reaches disk.
#[derive(Clone, Debug, PartialEq)]
pub struct Attendee {
    pub id: AttendeeId,
    pub registration_code: Option<String>,
    pub name: String,
    pub company: String,
    pub title: String,
    pub category: String,
    pub phone: String,
    pub email: String,
    pub country: String,
    pub id_document: Option<IdDocument>,
    pub source: Source,
    pub consent: bool,
    pub tags: Vec<String>,
    /// See [`NewAttendee::chinese_name`]; empty when the name is the only one.
    pub chinese_name: String,
}

const MAX_TEXT: usize = 200;
/// Tags one attendee may carry: as many as a synced change may (`expo_sync::validate`).
const MAX_TAGS: usize = 64;

impl NewAttendee {
    /// Validates every field and reports all problems at once (an operator fixes a form in
    /// one pass, an import report lists every bad field of a row).
    pub fn validate(
        &self,
        event: &EventDefinition,
        source: Source,
        today: NaiveDate,
    ) -> Result<Attendee, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = clean(&self.name);
        if name.is_empty() {
            errors.push(FieldError::new("name", FieldProblem::Required));
        }
        for (field, value) in [
            ("name", &self.name),
            ("chinese_name", &self.chinese_name),
            ("company", &self.company),
            ("title", &self.title),
            ("country", &self.country),
            ("registration_code", &self.registration_code),
        ] {
            if value.chars().count() > MAX_TEXT {
                errors.push(FieldError::new(field, FieldProblem::TooLong { max: MAX_TEXT }));
            }
            if value.chars().any(|c| c.is_control()) {
                errors.push(FieldError::new(field, FieldProblem::ControlCharacters));
            }
        }
        if self.tags.len() > MAX_TAGS {
            errors.push(FieldError::new("tags", FieldProblem::TooManyTags { max: MAX_TAGS }));
        }
        if self.tags.iter().any(|tag| tag.chars().count() > MAX_TEXT) {
            errors.push(FieldError::new("tags", FieldProblem::TagTooLong { max: MAX_TEXT }));
        }
        let registration_code = clean(&self.registration_code);
        if !registration_code.is_empty()
            && !registration_code.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            errors.push(FieldError::new(
                "registration_code",
                FieldProblem::RegistrationCodeCharacters,
            ));
        }
        let category = match event.category(&self.category) {
            Some((_, category)) => Some(category),
            None => {
                errors.push(FieldError::new(
                    "category",
                    FieldProblem::UnknownCategory { given: self.category.trim().to_owned() },
                ));
                None
            }
        };
        let phone = match clean(&self.phone) {
            p if p.is_empty() => String::new(),
            p => normalize_phone(&p).unwrap_or_else(|reason| {
                errors.push(FieldError::new("phone", reason.into()));
                String::new()
            }),
        };
        let email = match clean(&self.email) {
            e if e.is_empty() => String::new(),
            e => validate_email(&e).unwrap_or_else(|| {
                errors.push(FieldError::new("email", FieldProblem::InvalidEmail));
                String::new()
            }),
        };
        let id_document = self.id_document(today, &mut errors);
        let attendee = Attendee {
            id: if registration_code.is_empty() {
                AttendeeId::new_walk_in()
            } else {
                AttendeeId::for_registration_code(&event.event.id, &registration_code)
            },
            registration_code: (!registration_code.is_empty()).then_some(registration_code),
            name,
            company: clean(&self.company),
            title: clean(&self.title),
            category: category.map(|c| c.id.clone()).unwrap_or_default(),
            phone,
            email,
            country: clean(&self.country),
            id_document,
            source,
            consent: self.consent,
            tags: self.tags.iter().map(|t| clean(t)).filter(|t| !t.is_empty()).collect(),
            chinese_name: clean(&self.chinese_name),
        };
        if let Some(category) = category {
            for field in &category.required {
                let present = match field.as_str() {
                    "company" => !attendee.company.is_empty(),
                    "title" => !attendee.title.is_empty(),
                    "phone" => !attendee.phone.is_empty() || !clean(&self.phone).is_empty(),
                    "email" => !attendee.email.is_empty() || !clean(&self.email).is_empty(),
                    "country" => !attendee.country.is_empty(),
                    "id_number" => attendee.id_document.is_some() || !self.id_number.is_empty(),
                    _ => true,
                };
                if !present {
                    errors.push(FieldError::new(
                        required_field_name(field),
                        FieldProblem::RequiredForCategory { category: category.id.clone() },
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(attendee)
        } else {
            Err(errors)
        }
    }

    /// The typed text of a form field, by the name [`FieldError`]s give it; `None` for a
    /// field that is not free text.
    pub fn text_mut(&mut self, field: &str) -> Option<&mut String> {
        Some(match field {
            "name" => &mut self.name,
            "chinese_name" => &mut self.chinese_name,
            "company" => &mut self.company,
            "title" => &mut self.title,
            "phone" => &mut self.phone,
            "email" => &mut self.email,
            "country" => &mut self.country,
            "registration_code" => &mut self.registration_code,
            "id_number" => &mut self.id_number,
            _ => return None,
        })
    }

    /// Validates a new registration: [`Self::validate`], and for a self-service one the
    /// organiser's kiosk policy on top: only in the event's `kiosk_walk_in_category`, and
    /// with a phone, the one way left to reach a visitor nobody at a desk has seen. Edits
    /// keep to `validate`, so a desk may still move a self-service attendee elsewhere.
    pub fn validate_registration(
        &self,
        event: &EventDefinition,
        source: Source,
        today: NaiveDate,
    ) -> Result<Attendee, Vec<FieldError>> {
        let validated = self.validate(event, source, today);
        if source != Source::SelfService {
            return validated;
        }
        let mut policy = Vec::new();
        let category = event.category(&self.category).map(|(_, c)| c.id.as_str());
        match event.event.kiosk_walk_in_category.as_deref() {
            None => policy.push(FieldError::new("category", FieldProblem::NoSelfServiceWalkIns)),
            Some(open) if category != Some(open) => policy.push(FieldError::new(
                "category",
                FieldProblem::SelfServiceCategoryOnly { category: open.to_owned() },
            )),
            Some(_) => {}
        }
        if clean(&self.phone).is_empty() {
            policy.push(FieldError::new("phone", FieldProblem::RequiredForSelfService));
        }
        match validated {
            Ok(attendee) if policy.is_empty() => Ok(attendee),
            Ok(_) => Err(policy),
            Err(mut errors) => {
                // One problem per field is enough: the field's own comes first.
                for problem in policy {
                    if !errors.iter().any(|e| e.field == problem.field) {
                        errors.push(problem);
                    }
                }
                Err(errors)
            }
        }
    }

    fn id_document(&self, today: NaiveDate, errors: &mut Vec<FieldError>) -> Option<IdDocument> {
        let number = self.id_number.trim();
        let type_text = self.id_type.trim();
        if number.is_empty() {
            if !type_text.is_empty() && IdType::parse(type_text).is_none() {
                errors.push(FieldError::new(
                    "id_type",
                    FieldProblem::UnknownIdType { given: type_text.to_owned() },
                ));
            }
            return None;
        }
        // A number without a type is most often a resident ID card.
        let id_type =
            if type_text.is_empty() { Some(IdType::ResidentId) } else { IdType::parse(type_text) };
        let Some(id_type) = id_type else {
            errors.push(FieldError::new(
                "id_type",
                FieldProblem::UnknownIdType { given: type_text.to_owned() },
            ));
            return None;
        };
        match IdDocument::parse(id_type, number, today) {
            Ok(doc) => Some(doc),
            Err(reason) => {
                errors.push(FieldError::new("id_number", reason.into()));
                None
            }
        }
    }
}

fn required_field_name(field: &str) -> &'static str {
    super::event::REQUIRABLE_FIELDS.into_iter().find(|f| *f == field).unwrap_or("category")
}

/// Trims and folds internal runs of white space to one space.
fn clean(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> EventDefinition {
        EventDefinition::from_toml(include_str!("../../assets/events/example-event.toml")).unwrap()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    fn valid() -> NewAttendee {
        NewAttendee {
            registration_code: "REG-0001".into(),
            name: "  张三 ".into(),
            company: "上海国际展览有限公司".into(),
            category: "参展商".into(),
            phone: "138 0013 8000".into(),
            email: "zhang@example.com".into(),
            id_number: "110101202311012176".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_registration_is_normalised() {
        let a = valid().validate(&event(), Source::PreRegistered, today()).unwrap();
        assert_eq!(a.name, "张三");
        assert_eq!(a.category, "exhibitor");
        assert_eq!(a.phone, "13800138000");
        assert_eq!(a.id_document.unwrap().id_type, IdType::ResidentId);
        assert_eq!(a.id, AttendeeId::for_registration_code("expo-2026", "REG-0001"));
    }

    #[test]
    fn a_chinese_name_beside_the_name_is_kept_cleaned_and_checked_like_a_name() {
        let both = NewAttendee {
            name: "SMITH  JOHN MICHAEL".into(),
            chinese_name: " 史密斯 ".into(),
            ..valid()
        };
        let a = both.validate(&event(), Source::WalkIn, today()).unwrap();
        assert_eq!((a.name.as_str(), a.chinese_name.as_str()), ("SMITH JOHN MICHAEL", "史密斯"));
        let bad = NewAttendee { chinese_name: format!("史{}", "\u{7}".repeat(300)), ..valid() };
        let errors = bad.validate(&event(), Source::WalkIn, today()).unwrap_err();
        let problems: Vec<_> =
            errors.iter().filter(|e| e.field == "chinese_name").map(|e| &e.problem).collect();
        assert_eq!(problems.len(), 2, "too long and a control character: {errors:?}");
    }

    #[test]
    fn every_field_error_is_reported_at_once() {
        let input = NewAttendee {
            registration_code: "REG 1;DROP".into(),
            name: " ".into(),
            category: "astronaut".into(),
            phone: "12345".into(),
            email: "not-an-email".into(),
            id_type: "passport".into(),
            id_number: "??".into(),
            ..Default::default()
        };
        let errors = input.validate(&event(), Source::WalkIn, today()).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        for field in ["name", "registration_code", "category", "phone", "email", "id_number"] {
            assert!(fields.contains(&field), "{field} missing from {errors:?}");
        }
    }

    #[test]
    fn category_requirements_are_enforced() {
        let input = NewAttendee { company: String::new(), phone: String::new(), ..valid() };
        let errors = input.validate(&event(), Source::WalkIn, today()).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["company", "phone"]);
    }

    #[test]
    fn tags_are_bounded_as_sync_carries_them() {
        let many = NewAttendee { tags: vec!["vip".into(); MAX_TAGS + 1], ..valid() };
        let long = NewAttendee { tags: vec!["x".repeat(MAX_TEXT + 1)], ..valid() };
        for input in [many, long] {
            let errors = input.validate(&event(), Source::WalkIn, today()).unwrap_err();
            assert_eq!(errors[0].field, "tags");
        }
        let enough = NewAttendee { tags: vec!["vip".into(); MAX_TAGS], ..valid() };
        assert!(enough.validate(&event(), Source::WalkIn, today()).is_ok());
    }

    #[test]
    fn unknown_id_type_is_an_error() {
        let input = NewAttendee { id_type: "driving licence".into(), ..valid() };
        let errors = input.validate(&event(), Source::WalkIn, today()).unwrap_err();
        assert_eq!(errors[0].field, "id_type");
    }

    #[test]
    fn a_self_service_registration_needs_the_kiosk_category_and_a_phone() {
        let event = event();
        let kiosk = |category: &str, phone: &str| NewAttendee {
            registration_code: String::new(),
            category: category.into(),
            phone: phone.into(),
            ..valid()
        };
        let fields = |input: NewAttendee, source| -> Vec<&'static str> {
            match input.validate_registration(&event, source, today()) {
                Ok(_) => Vec::new(),
                Err(errors) => errors.iter().map(|e| e.field).collect(),
            }
        };
        assert!(fields(kiosk("普通观众", "13800138000"), Source::SelfService).is_empty());
        assert_eq!(fields(kiosk("public_visitor", ""), Source::SelfService), ["phone"]);
        assert_eq!(fields(kiosk("vip", "13800138000"), Source::SelfService), ["category"]);
        // The phone's own problem is the one reported, not a second one.
        assert_eq!(fields(kiosk("public_visitor", "12345"), Source::SelfService), ["phone"]);
        // A desk may register any category, with or without a phone.
        assert!(fields(kiosk("vip", ""), Source::WalkIn).is_empty());

        let mut closed = event.clone();
        closed.event.kiosk_walk_in_category = None;
        let input = kiosk("public_visitor", "13800138000");
        let errors = input.validate_registration(&closed, Source::SelfService, today());
        assert_eq!(errors.unwrap_err()[0].field, "category", "no kiosk walk-ins at all");
    }

    #[test]
    fn debug_never_prints_the_id_number() {
        let input = valid();
        let printed = format!("{input:?}");
        assert!(!printed.contains("110101202311012176"), "{printed}");
        assert!(printed.contains("1101**********2176"), "{printed}");
        let attendee = input.validate(&event(), Source::PreRegistered, today()).unwrap();
        let printed = format!("{attendee:?}");
        assert!(!printed.contains("110101202311012176"), "{printed}");
    }

    #[test]
    fn names_are_masked_to_tell_people_apart() {
        assert_eq!(mask_name("张三丰"), "张*丰");
        assert_eq!(mask_name("李雷"), "李*");
        assert_eq!(mask_name("Anna Smith"), "Anna S.");
        assert_eq!(mask_name("SMITH  JOHN MICHAEL"), "SMITH J. M.");
        assert_eq!(mask_name("Madonna"), "M*****a");
    }

    #[test]
    fn phones_are_masked_for_the_public_screen() {
        assert_eq!(mask_phone("+8613812345678"), "**********5678");
        assert_eq!(mask_phone("123"), "***");
    }

    #[test]
    fn walk_ins_get_fresh_ids_and_pre_registrations_stable_ones() {
        let walk_in = NewAttendee { registration_code: String::new(), ..valid() };
        let a = walk_in.validate(&event(), Source::WalkIn, today()).unwrap();
        let b = walk_in.validate(&event(), Source::WalkIn, today()).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.registration_code, None);
    }
}
