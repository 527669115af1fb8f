// The console's two languages (Chinese and English): one dictionary, a switch, and a
// default from the browser's language.
const en = {
  title: 'confer console', language: 'Language', sign_in: 'Sign in', sign_out: 'Sign out',
  username: 'Username', password: 'Password', totp: 'Authenticator code (6 digits)',
  signed_in_as: 'Role', nav_live: 'Live visits', nav_verification: 'Verification', nav_complaints: 'Complaints',
  nav_reports: 'Reports', expired: 'Your session has expired or is missing. Please sign in again.',
  forbidden: 'Your role cannot do this.', failed: 'The request failed.', no_views: 'Your role has no console views. Staff accounts are managed with the API or `confer admin`.',
  live_title: 'Live visits', live_none: 'No visit is live or waiting now.', live_unavailable: 'The live feed is not available on this server.',
  live_updated: 'Updated', visit: 'Visit', booth: 'Booth', state: 'State', time_left: 'Time left', warnings: 'Warnings',
  participants: 'Participants', in_kbps: 'In kbit/s', out_kbps: 'Out kbit/s', loss: 'Loss %', rtt: 'RTT ms', jitter: 'Jitter ms',
  system_alert_disk_space: 'The server is low on disk space: admissions stop when it is full. Make room now.',
  alerts: 'Alerts', health: 'Health', health_green: 'good', health_amber: 'degraded', health_red: 'poor', health_grey: 'waiting',
  state_live: 'live', state_waiting: 'waiting', role: 'Role', device: 'Device', connection: 'Connection', candidate: 'Candidate',
  transport: 'Transport', audio: 'audio', video: 'video', fps: 'fps', resolution: 'Resolution', last_media: 'Last media (ms ago)',
  reconnects: 'Reconnects', slot_end: 'Slot ends', back: 'Back', detail_title: 'Visit', detail_gone: 'This visit is no longer live.',
  privacy_note: 'The console shows connection health only: no picture, sound or document content.',
  stop: 'Stop visit…', stop_title: 'Stop this visit for a violation', category: 'Category', reason: 'Reason (sent in the violation report)',
  confirm_stop: 'Stop the visit now', cancel: 'Cancel', stopped: 'The visit was stopped and the violation reported.',
  cat_unapproved_person: 'Unapproved person present', cat_communication_device: 'Communication device given to the detainee',
  cat_relaying_to_outsiders: 'Relaying the visit to outsiders', cat_prohibited_items: 'Prohibited items passed', cat_other: 'Other serious violation',
  verification_title: 'Verification queue', docs_pending: 'Documents waiting for review', engagement: 'Engagement', kind: 'Kind',
  facility: 'Facility', uploaded: 'Uploaded', size: 'Size', accept: 'Accept', reject: 'Reject', reject_reason: 'Why is it rejected?',
  none: 'None.', manual_title: 'Manual licence verifications', record_manual: 'Record a manual verification', visit_id: 'Visit id',
  evidence_ref: 'Certificate reference', note: 'Note', record: 'Record', lawyer: 'Lawyer id', verified_at: 'Verified at',
  alerts_title: 'Impersonation alerts', raised: 'Raised', acknowledge: 'Acknowledge', acknowledged: 'acknowledged', saved: 'Saved.',
  complaints_title: 'Complaints', about: 'About', status: 'Status', filed: 'Filed', text: 'Text', updates: 'Updates',
  add_update: 'Add', progress: 'Progress', outcome: 'Outcome (closes the complaint)',
  reports_title: 'Reports', from: 'From', to: 'To', show: 'Show', download_csv: 'Download CSV', period: 'Period',
  r_visits: 'Visits', booked: 'Booked', held: 'Held', stopped_n: 'Stopped by staff', r_waiting: 'Waiting from request to start',
  requests: 'Requests', placed: 'Placed', median_min: 'Median (min)', p90_min: 'p90 (min)', r_deadline: '48-hour rule',
  eligible: 'Requests owed a visit', within_48h: 'Served within 48 h', share_48h: 'Share within 48 h', breaches: 'Breaches',
  r_refusals: 'Refusals by reason', r_violations: 'Violations by category', r_manual: 'Manual verifications', count: 'Count', code: 'Code',
  r_complaints: 'Complaints', answered: 'Answered', with_outcome: 'With outcome', open: 'Open', first_answer_h: 'First answer (h, median / p90)',
  outcome_h: 'Outcome (h, median / p90)', r_utilisation: 'Booth utilisation', open_min: 'Open min', booked_min: 'Booked min',
  held_min: 'Held min', booked_share: 'Booked share', held_share: 'Held share', total: 'Total', r_rooms: 'Lawyer rooms per 100 detainees',
  lawyer_rooms: 'Lawyer rooms', detainees: 'Detainees', per_100: 'Per 100 detainees', norm: 'Norm', chart_util: 'Booked share per booth',
  chart_wait: 'Waiting (minutes)', chart_rooms: 'Rooms per 100 detainees vs the norm', loading: 'Loading…',
};
const zh = {
  title: 'confer 管理台', language: '语言', sign_in: '登录', sign_out: '退出',
  username: '用户名', password: '密码', totp: '动态验证码（6 位）',
  signed_in_as: '角色', nav_live: '实时会见', nav_verification: '核验', nav_complaints: '投诉',
  nav_reports: '统计报表', expired: '登录已过期或不存在，请重新登录。',
  forbidden: '您的角色无权执行此操作。', failed: '请求失败。', no_views: '您的角色没有可用的管理台页面。工作人员账户通过 API 或 `confer admin` 管理。',
  live_title: '实时会见', live_none: '当前没有进行中或等待中的会见。', live_unavailable: '本服务器未提供实时状态。',
  live_updated: '更新于', visit: '会见', booth: '会见室', state: '状态', time_left: '剩余时间', warnings: '已发提醒',
  participants: '参与方', in_kbps: '接收 kbit/s', out_kbps: '发送 kbit/s', loss: '丢包 %', rtt: '往返时延 ms', jitter: '抖动 ms',
  system_alert_disk_space: '服务器磁盘空间不足：磁盘写满后将无法开始会见。请立即清理空间。',
  alerts: '告警', health: '质量', health_green: '良好', health_amber: '一般', health_red: '较差', health_grey: '等待中',
  state_live: '进行中', state_waiting: '等待中', role: '身份', device: '设备', connection: '连接', candidate: '候选类型',
  transport: '传输', audio: '音频', video: '视频', fps: '帧率', resolution: '分辨率', last_media: '最近媒体（毫秒前）',
  reconnects: '重连次数', slot_end: '结束时间', back: '返回', detail_title: '会见', detail_gone: '此会见已不在进行中。',
  privacy_note: '管理台只显示连接质量：不显示画面、声音或文件内容。',
  stop: '中止会见…', stop_title: '因违规中止此次会见', category: '违规类别', reason: '原因（写入违规通报）',
  confirm_stop: '立即中止会见', cancel: '取消', stopped: '会见已中止，违规情况已通报。',
  cat_unapproved_person: '有未经批准的人员在场', cat_communication_device: '向在押人员提供通讯工具',
  cat_relaying_to_outsiders: '向外传递会见内容', cat_prohibited_items: '传递违禁物品', cat_other: '其他严重违规',
  verification_title: '核验队列', docs_pending: '待审核文件', engagement: '委托', kind: '类型',
  facility: '场所', uploaded: '上传时间', size: '大小', accept: '通过', reject: '退回', reject_reason: '退回原因？',
  none: '无。', manual_title: '人工执业证核验', record_manual: '登记人工核验', visit_id: '会见编号',
  evidence_ref: '证明文件编号', note: '备注', record: '登记', lawyer: '律师编号', verified_at: '核验时间',
  alerts_title: '冒用身份告警', raised: '发生时间', acknowledge: '确认', acknowledged: '已确认', saved: '已保存。',
  complaints_title: '投诉', about: '事由', status: '状态', filed: '提交时间', text: '内容', updates: '处理记录',
  add_update: '添加', progress: '进展', outcome: '结果（结束投诉）',
  reports_title: '统计报表', from: '起', to: '止', show: '查询', download_csv: '下载 CSV', period: '期间',
  r_visits: '会见', booked: '已预约', held: '已举行', stopped_n: '被工作人员中止', r_waiting: '从申请到会见开始的等待时间',
  requests: '申请数', placed: '已安排', median_min: '中位数（分钟）', p90_min: '第 90 百分位（分钟）', r_deadline: '48 小时规则',
  eligible: '应安排的申请', within_48h: '48 小时内安排', share_48h: '48 小时内比例', breaches: '超时',
  r_refusals: '拒绝入场（按原因）', r_violations: '违规（按类别）', r_manual: '人工核验', count: '次数', code: '代码',
  r_complaints: '投诉', answered: '已答复', with_outcome: '已办结', open: '未办结', first_answer_h: '首次答复（小时，中位数 / p90）',
  outcome_h: '办结（小时，中位数 / p90）', r_utilisation: '会见室使用率', open_min: '开放分钟', booked_min: '预约分钟',
  held_min: '实际分钟', booked_share: '预约占比', held_share: '实际占比', total: '合计', r_rooms: '每百名在押人员律师会见室数',
  lawyer_rooms: '律师会见室', detainees: '在押人数', per_100: '每百人', norm: '标准', chart_util: '各会见室预约占比',
  chart_wait: '等待时间（分钟）', chart_rooms: '每百人会见室数与标准', loading: '加载中…',
};
const dictionaries = { en, zh };
let lang = localStorage.getItem('confer.lang') || ((navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en');

export function getLang() { return lang; }
export function setLang(l) {
  if (!dictionaries[l]) return;
  lang = l;
  localStorage.setItem('confer.lang', l);
  document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
}
export function t(key) { return dictionaries[lang][key] ?? en[key] ?? key; }
