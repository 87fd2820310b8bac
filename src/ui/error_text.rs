//! Library errors and import reports in the operator's language, for the CLI (`--lang`)
//! and the screens. As in [`super::i18n`], English is the error's own `Display` (what
//! scripts and logs have always read) and Chinese is written here for every typed problem.
//! An error with no typed form (a database or disk failure) keeps the system's English
//! words after the heading of its [`ErrorClass`].

use crate::badges::{BadgeError, JobError};
use crate::domain::{EventError, EventProblem, FieldError};
use crate::error_class::{class_of, ErrorClass};
use crate::operators::{OperatorError, Permission};
use crate::provisioning::ProvisioningError;
use crate::registration::import::{IdentityConflict, ImportReport, RowError};
use crate::registration::RegistrationError;
use crate::stats::StatsError;
use crate::store::StoreError;

use super::i18n::{
    event_field_label, event_place, event_problem_message, field_label, field_problem,
    print_problem, role_label, Lang, Txt,
};

/// The heading a message of this class carries: a screen's banner title, the CLI's prefix.
pub fn class_heading(class: ErrorClass, lang: Lang) -> &'static str {
    match (class, lang) {
        (ErrorClass::Refused, Lang::Zh) => "已拒绝",
        (ErrorClass::Refused, Lang::En) => "Refused",
        (ErrorClass::NotFound, Lang::Zh) => "未找到",
        (ErrorClass::NotFound, Lang::En) => "Not found",
        (ErrorClass::Invalid, Lang::Zh) => "请更正",
        (ErrorClass::Invalid, Lang::En) => "Please correct",
        (ErrorClass::Unavailable, Lang::Zh) => "暂时无法完成",
        (ErrorClass::Unavailable, Lang::En) => "Cannot be done now",
    }
}

/// One error in `lang`, if it is of a library type with a typed form; callers walk an
/// error's chain with it and print the English detail when no link has one.
pub fn error_text(error: &(dyn std::error::Error + 'static), lang: Lang) -> Option<String> {
    if lang == Lang::En {
        return class_of(error).map(|_| error.to_string());
    }
    if let Some(error) = error.downcast_ref::<StoreError>() {
        return store_error_zh(error);
    }
    if let Some(error) = error.downcast_ref::<OperatorError>() {
        return operator_error_zh(error);
    }
    if let Some(error) = error.downcast_ref::<RegistrationError>() {
        return registration_error_zh(error);
    }
    if let Some(error) = error.downcast_ref::<BadgeError>() {
        return badge_error_zh(error);
    }
    if let Some(problem) = error.downcast_ref::<crate::badges::PrintProblem>() {
        return Some(print_problem(problem, Lang::Zh));
    }
    if let Some(error) = error.downcast_ref::<EventError>() {
        return event_error_zh(error);
    }
    if let Some(error) = error.downcast_ref::<ProvisioningError>() {
        return provisioning_error_zh(error);
    }
    if let Some(error) = error.downcast_ref::<StatsError>() {
        return match error {
            StatsError::Operator(inner) => operator_error_zh(inner),
            StatsError::Store(inner) => store_error_zh(inner),
            StatsError::UnknownCategory(category) => Some(format!("本活动没有类别“{category}”")),
            _ => None,
        };
    }
    None
}

fn operator_error_zh(error: &OperatorError) -> Option<String> {
    use OperatorError as E;
    Some(match error {
        E::UnknownRole(role) => format!("未知角色“{role}”：请用 admin、desk、kiosk 或 gate"),
        E::BadName => Txt::BadOperatorName.get(Lang::Zh).into(),
        E::WeakSecret => Txt::WeakPin.get(Lang::Zh).into(),
        E::Exists(name) => format!("{}：{name}", Txt::OperatorExists.get(Lang::Zh)),
        E::UnknownCategory(category) => format!("操作员范围中的类别“{category}”不存在"),
        E::BadLogin => Txt::BadLogin.get(Lang::Zh).into(),
        E::Forbidden { operator, role, permission } => format!(
            "操作员 {operator}（{}）无权{}",
            role_label(*role).get(Lang::Zh),
            permission_zh(*permission)
        ),
        E::OutOfScope { operator, category } => {
            format!("类别 {category} 不在操作员 {operator} 负责的范围内")
        }
        E::LockedOut { seconds, .. } => format!("{}（{seconds} 秒）", Txt::LockedOut.get(Lang::Zh)),
        E::NotFound(name) => format!("没有名为 {name} 的操作员"),
        E::LastAdmin(_) => Txt::LastAdmin.get(Lang::Zh).into(),
        E::Store(inner) => return store_error_zh(inner),
        E::Hash(_) => return None,
    })
}

/// What a station without an event, or with a newer database, must do; a database or disk
/// failure keeps the system's words.
fn store_error_zh(error: &StoreError) -> Option<String> {
    match error {
        StoreError::NoEvent => Some(
            "本站还没有活动：请运行 expo-kiosk event init --file EVENT.toml 或 expo-kiosk event import BUNDLE"
                .into(),
        ),
        StoreError::NewerSchema { path, found, known } => Some(format!(
            "数据库 {} 由更新版本的 expo-kiosk 写入（结构版本 {found}，本程序最高 {known}）：请升级 expo-kiosk，未做任何更改",
            path.display()
        )),
        StoreError::Sqlite(_)
        | StoreError::DataDir { .. }
        | StoreError::KeyFile { .. }
        | StoreError::Corrupt(_) => None,
    }
}

/// What a permission allows, as the end of "无权…".
fn permission_zh(permission: Permission) -> &'static str {
    match permission {
        Permission::Search => "搜索参会者",
        Permission::Register => "登记参会者",
        Permission::Edit => "修改参会者",
        Permission::Print => "打印胸卡",
        Permission::Reprint => "补打胸卡",
        Permission::Revoke => "作废胸卡",
        Permission::RevealId => "查看完整证件号码",
        Permission::Import => "导入预登记",
        Permission::ManageEvent => "修改活动",
        Permission::ManageOperators => "管理操作员",
        Permission::ViewAudit => "查看审计日志",
        Permission::ViewReports => "查看统计和导出报表",
        Permission::SelfService => "使用自助机",
        Permission::OperateGate => "操作闸机",
    }
}

fn registration_error_zh(error: &RegistrationError) -> Option<String> {
    use RegistrationError as E;
    Some(match error {
        E::Invalid(errors) => format!("登记无效：{}", field_errors(errors, Lang::Zh)),
        E::DuplicateCode { code, .. } => {
            format!("{}：{} {code}", Txt::Duplicate.get(Lang::Zh), Txt::CodeTaken.get(Lang::Zh))
        }
        E::DuplicateIdDocument { .. } => {
            format!("{}：{}", Txt::Duplicate.get(Lang::Zh), Txt::IdDocumentTaken.get(Lang::Zh))
        }
        E::NotFound(given) => format!("没有与“{given}”匹配的参会者（请给出参会者 ID 或注册码）"),
        E::NoDataKey => {
            "本站没有活动数据密钥，不能保存证件号码：请导入活动首站导出的含数据密钥的活动包".into()
        }
        E::NoSigningKey => {
            "本站没有签名密钥：请在本站运行 expo-kiosk event init 或 event import".into()
        }
        E::Revoked(attendee, reason) => {
            format!("参会者 {attendee} 的胸卡已作废（{reason}），不能打印")
        }
        E::NoActiveBadge(attendee) => format!("参会者 {attendee} 没有有效的胸卡"),
        E::Operator(inner) => return operator_error_zh(inner),
        E::Store(inner) => return store_error_zh(inner),
        // The file's own problem, worded by the CSV reader or the header check.
        E::Import(_) => return None,
    })
}

fn badge_error_zh(error: &BadgeError) -> Option<String> {
    if let Some(problem) = error.print_problem() {
        return Some(print_problem(&problem, Lang::Zh));
    }
    match error {
        BadgeError::Registration(inner) => registration_error_zh(inner),
        BadgeError::Operator(inner) => operator_error_zh(inner),
        BadgeError::Store(inner) => store_error_zh(inner),
        BadgeError::UnknownTemplate { name, known } => {
            Some(format!("未知胸卡模板“{name}”（自带：{known}；或给出 .toml 文件路径）"))
        }
        _ => None,
    }
}

fn event_error_zh(error: &EventError) -> Option<String> {
    match error {
        EventError::Invalid(problems) => {
            let problems: Vec<String> =
                problems.iter().map(|problem| event_problem(problem, Lang::Zh)).collect();
            Some(format!("活动定义有误：{}", problems.join("；")))
        }
        EventError::Toml(_) => None,
    }
}

fn provisioning_error_zh(error: &ProvisioningError) -> Option<String> {
    use ProvisioningError as E;
    match error {
        E::Event(inner) => event_error_zh(inner),
        E::Operator(inner) => operator_error_zh(inner),
        E::Store(inner) => store_error_zh(inner),
        E::OtherEvent { existing, offered } => Some(format!(
            "本站已属于活动“{existing}”，此文件属于“{offered}”（每个活动请用单独的 --data-dir）"
        )),
        E::CategoryMoved(category) => {
            Some(format!("类别“{category}”须保持原位：胸卡记录了它的位置（新类别加在末尾）"))
        }
        E::File { .. } | E::BadBundle(_) => None,
    }
}

/// Why a print job's last attempt failed, in `lang`; a job stored before problems were
/// typed shows its English text.
pub fn job_error(error: &JobError, lang: Lang) -> String {
    match error {
        JobError::Problem(problem) => print_problem(problem, lang),
        JobError::Legacy(text) => text.clone(),
    }
}

/// One problem of an event definition: where, which field, what is wrong.
pub fn event_problem(problem: &EventProblem, lang: Lang) -> String {
    let place = event_place(&problem.place, lang);
    let field = event_field_label(problem.field).get(lang);
    let message = event_problem_message(&problem.kind, lang);
    if place.is_empty() {
        format!("{field}：{message}")
    } else {
        format!("{place} · {field}：{message}")
    }
}

/// A registration's field problems on one line: "电话：…；邮箱：…".
fn field_errors(errors: &[FieldError], lang: Lang) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|error| {
            format!(
                "{}：{}",
                field_label(error.field).get(lang),
                field_problem(&error.problem, lang)
            )
        })
        .collect();
    parts.join("；")
}

/// An import report as an operator reads it, in `lang`: each bad row and identity
/// conflict on its own line, then the counts. English is [`ImportReport::text_lines`].
pub fn import_report_lines(report: &ImportReport, dry_run: bool, lang: Lang) -> Vec<String> {
    if lang == Lang::En {
        return report.text_lines(dry_run);
    }
    let mut lines: Vec<String> = report.errors.iter().map(row_error_zh).collect();
    lines.extend(report.conflicts.iter().map(identity_conflict_zh));
    if !report.ignored_columns.is_empty() {
        lines.push(format!("已忽略的列：{}", report.ignored_columns.join("、")));
    }
    lines.push(format!(
        "共 {} 行（{}）：新增 {}，更新 {}，未变 {}，错误 {}{}",
        report.rows,
        report.encoding,
        report.created,
        report.updated,
        report.unchanged,
        report.invalid_rows,
        match (report.committed, dry_run) {
            (true, _) => "",
            (false, true) => "（试运行：未写入任何数据）",
            (false, false) => "（未导入任何数据：请更正错误行，或使用 --skip-invalid）",
        }
    ));
    lines
}

fn row_error_zh(error: &RowError) -> String {
    // A row the CSV reader could not split has no field.
    let field = match error.field.as_str() {
        "-" => String::new(),
        field => format!("{} “{}”：", field_label(field).get(Lang::Zh), error.value),
    };
    format!("第 {} 行：{field}{}", error.line, field_problem(&error.problem, Lang::Zh))
}

fn identity_conflict_zh(conflict: &IdentityConflict) -> String {
    format!(
        "第 {} 行：身份冲突：文件中的 {} 与已登记的 {} 注册码或证件号码相同，但不是同一人；未导入，请人工核对",
        conflict.line,
        conflict.in_file, conflict.stored
    )
}
