// Every string the console shows, in both languages; a key missing in one is a bug.
export const STRINGS = {
  "zh-CN": {
    title: "消防控制室值班台", login: "登录", username: "用户名", password: "密码",
    sign_in: "登录", logout: "退出", live: "实时", offline: "已断开", switch_lang: "English",
    tab_board: "报警与故障", tab_handover: "交接班", tab_duty: "值班记录",
    tab_obligations: "检测任务", tab_isolations: "屏蔽与隔离", tab_devices: "设备状态",
    col_severity: "级别", col_state: "状态", col_what: "内容", col_where: "位置",
    col_raised: "发生时间", col_count: "次数",
    no_incidents: "当前无未处理的报警或故障", ack: "确认", shelve: "搁置",
    reason: "原因", minutes: "时长（分钟）", cancel: "取消", comment: "备注",
    sev_critical: "火警/紧急", sev_major: "重要", sev_minor: "一般", sev_info: "提示",
    st_active_unacked: "未确认", st_active_acked: "已确认", st_cleared_unacked: "已恢复未确认",
    st_closed: "已关闭", st_shelved: "已搁置", st_out_of_service: "停用",
    fire_alarms: "火警", unacked: "未确认", open_total: "未关闭",
    handover_none: "当前没有待接班的交接记录。", handover_draft: "起草交接班记录",
    handover_notes: "交班说明", handover_sign: "签字交班", handover_accept: "签字接班",
    handover_pending: "待接班", handover_from: "交班人", handover_open: "移交的未关闭事项",
    handover_ack_needed: "接班人须逐项确认火警和重要事项", handover_print: "打印",
    handover_accepted: "已接班", accept_notes: "接班说明",
    handover_report: "交班时的报告", handover_signed: "已签字交班，等待接班人签字",
    handover_waiting: "已交班，等待接班", handover_to: "接班人",
    handover_notes_from: "交班说明", handover_taken_over: "已接管事项",
    handover_nothing_to_ack: "没有须逐项确认的火警或重要事项",
    handover_missing: "以下火警或重要事项尚未勾选确认，不能接班",
    shift: "班次", on_duty: "在岗人员", since: "自", min_operators: "每班最少人数",
    rep_open_incidents: "未关闭的报警与故障", rep_isolations: "屏蔽与隔离",
    rep_systems_in_manual: "处于手动状态的系统", rep_devices_offline: "通讯中断的设备",
    rep_tests_due: "到期或逾期的检测", rep_none: "无",
    test_due_soon: "即将到期", test_overdue: "已逾期", test_failed: "未通过",
    log_status: "状态", log_note: "记录", log_system: "系统",
    duty_entry: "值班记录内容", add_entry: "添加记录", check_in: "上岗签到", check_out: "离岗签退",
    unavailable: "此功能尚未启用", dev_online: "在线", dev_lost: "通讯中断",
    saved: "已保存", error: "出错", login_failed: "用户名或密码错误",
    monitoring_down: "监控中断：请直接查看火灾报警控制器",
    st_shelved_supervision: "屏蔽中的监管", rep_shelved_supervision: "屏蔽中的监管",
    shelved_until: "至",
  },
  en: {
    title: "Fire control room console", login: "Sign in", username: "User name",
    password: "Password", sign_in: "Sign in", logout: "Sign out", live: "Live",
    offline: "Disconnected", switch_lang: "中文",
    tab_board: "Alarms & faults", tab_handover: "Handover", tab_duty: "Duty log",
    tab_obligations: "Tests due", tab_isolations: "Isolations", tab_devices: "Devices",
    col_severity: "Severity", col_state: "State", col_what: "What", col_where: "Where",
    col_raised: "Raised", col_count: "Count",
    no_incidents: "No open alarms or faults", ack: "Acknowledge", shelve: "Shelve",
    reason: "Reason", minutes: "For (minutes)", cancel: "Cancel", comment: "Comment",
    sev_critical: "Fire / critical", sev_major: "Major", sev_minor: "Minor", sev_info: "Info",
    st_active_unacked: "Unacknowledged", st_active_acked: "Acknowledged",
    st_cleared_unacked: "Cleared, unacknowledged", st_closed: "Closed", st_shelved: "Shelved",
    st_out_of_service: "Out of service",
    fire_alarms: "Fire alarms", unacked: "Unacknowledged", open_total: "Open",
    handover_none: "No handover is waiting to be accepted.", handover_draft: "Draft a handover",
    handover_notes: "Notes for the next shift", handover_sign: "Sign and hand over",
    handover_accept: "Sign and take over", handover_pending: "Waiting for acceptance",
    handover_from: "Handed over by", handover_open: "Open matters handed over",
    handover_ack_needed: "Tick every fire alarm and major matter to take over",
    handover_print: "Print", handover_accepted: "Accepted", accept_notes: "Notes on taking over",
    handover_report: "Report as handed over", handover_signed: "Signed; waiting for the incoming operator",
    handover_waiting: "Handed over, waiting for acceptance", handover_to: "Taken over by",
    handover_notes_from: "Notes from the outgoing operator", handover_taken_over: "Taken over",
    handover_nothing_to_ack: "No fire alarm or major matter to acknowledge",
    handover_missing: "Tick these fire alarms or major matters before taking over",
    shift: "Shift", on_duty: "On duty", since: "since", min_operators: "Minimum per shift",
    rep_open_incidents: "Open alarms and faults", rep_isolations: "Isolations",
    rep_systems_in_manual: "Systems in manual", rep_devices_offline: "Devices offline",
    rep_tests_due: "Tests due or overdue", rep_none: "None",
    test_due_soon: "Due soon", test_overdue: "Overdue", test_failed: "Failed",
    log_status: "Status", log_note: "Note", log_system: "System",
    duty_entry: "Duty log entry", add_entry: "Add entry", check_in: "Check in for duty",
    check_out: "Check out",
    unavailable: "Not available on this server yet", dev_online: "Online",
    dev_lost: "Communication lost", saved: "Saved", error: "Error",
    login_failed: "Wrong user name or password",
    monitoring_down: "Monitoring is down: watch the fire alarm panel itself",
    st_shelved_supervision: "Shelved panel supervision",
    rep_shelved_supervision: "Shelved panel supervision", shelved_until: "until",
  },
};

const KEY = "fireroom.lang";
let lang = localStorage.getItem(KEY) || "zh-CN";

export function language() { return lang; }

export function t(key) {
  return STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
}

export function setLanguage(next) {
  lang = next in STRINGS ? next : "zh-CN";
  localStorage.setItem(KEY, lang);
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
}
