"""Code lists of the registry: the value stored, and the Chinese labels users write.

Each mapping goes label → code; the first label of each code is the one shown to users.
"""

from __future__ import annotations

CATEGORIES: dict[str, str] = {
    "dibao": "低保",
    "tekun": "特困",
    "marginal": "低保边缘",
    "rigid_spending": "刚性支出困难",
    "relapse_watch": "防返贫监测",
    "other": "其他困难",
}
CATEGORY_ALIASES: dict[str, str] = {
    "低保": "dibao",
    "最低生活保障": "dibao",
    "城市低保": "dibao",
    "农村低保": "dibao",
    "低保对象": "dibao",
    "特困": "tekun",
    "特困人员": "tekun",
    "特困供养": "tekun",
    "五保": "tekun",
    "低保边缘": "marginal",
    "低保边缘家庭": "marginal",
    "边缘": "marginal",
    "刚性支出困难": "rigid_spending",
    "刚性支出": "rigid_spending",
    "支出型困难": "rigid_spending",
    "防返贫监测": "relapse_watch",
    "防返贫": "relapse_watch",
    "防止返贫监测对象": "relapse_watch",
    "监测对象": "relapse_watch",
    "其他": "other",
    "其他困难": "other",
    "其他困难人员": "other",
}

RELATIONS: dict[str, str] = {
    "head": "户主",
    "spouse": "配偶",
    "child": "子女",
    "parent": "父母",
    "grandchild": "孙子女",
    "sibling": "兄弟姐妹",
    "other": "其他",
}
RELATION_ALIASES: dict[str, str] = {
    "户主": "head",
    "本人": "head",
    "本人(户主)": "head",
    "本人（户主）": "head",
    "配偶": "spouse",
    "妻": "spouse",
    "夫": "spouse",
    "妻子": "spouse",
    "丈夫": "spouse",
    "子女": "child",
    "子": "child",
    "女": "child",
    "儿子": "child",
    "女儿": "child",
    "长子": "child",
    "次子": "child",
    "长女": "child",
    "次女": "child",
    "养子": "child",
    "养女": "child",
    "继子": "child",
    "继女": "child",
    "父母": "parent",
    "父亲": "parent",
    "母亲": "parent",
    "父": "parent",
    "母": "parent",
    "孙子女": "grandchild",
    "孙子": "grandchild",
    "孙女": "grandchild",
    "外孙子": "grandchild",
    "外孙女": "grandchild",
    "兄弟姐妹": "sibling",
    "兄": "sibling",
    "弟": "sibling",
    "姐": "sibling",
    "妹": "sibling",
    "其他": "other",
    "儿媳": "other",
    "女婿": "other",
    "祖父母": "other",
    "祖父": "other",
    "祖母": "other",
}

DISABILITY_KINDS: dict[str, str] = {
    "visual": "视力",
    "hearing": "听力",
    "speech": "言语",
    "physical": "肢体",
    "intellectual": "智力",
    "mental": "精神",
    "multiple": "多重",
}
DISABILITY_KIND_ALIASES: dict[str, str] = {
    **{label: code for code, label in DISABILITY_KINDS.items()},
    **{label + "残疾": code for code, label in DISABILITY_KINDS.items()},
}
DISABILITY_GRADE_ALIASES: dict[str, int] = {
    "1": 1,
    "2": 2,
    "3": 3,
    "4": 4,
    "一级": 1,
    "二级": 2,
    "三级": 3,
    "四级": 4,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "1级": 1,
    "2级": 2,
    "3级": 3,
    "4级": 4,
}

SCHOOLING: dict[str, str] = {
    "none": "非在校",
    "preschool": "学前",
    "compulsory": "义务教育",
    "high_school": "普通高中",
    "vocational": "中职",
    "college": "大专及以上",
}
SCHOOLING_ALIASES: dict[str, str] = {
    "非在校": "none",
    "无": "none",
    "不在校": "none",
    "": "none",
    "学前": "preschool",
    "幼儿园": "preschool",
    "学前教育": "preschool",
    "义务教育": "compulsory",
    "小学": "compulsory",
    "初中": "compulsory",
    "普通高中": "high_school",
    "高中": "high_school",
    "中职": "vocational",
    "中专": "vocational",
    "职高": "vocational",
    "技校": "vocational",
    "大专及以上": "college",
    "大专": "college",
    "本科": "college",
    "大学": "college",
    "高职": "college",
    "研究生": "college",
}

EMPLOYMENT: dict[str, str] = {
    "employed": "务工",
    "farming": "务农",
    "flexible": "灵活就业",
    "unemployed": "无业",
    "retired": "退休",
    "student": "在校生",
    "unable": "丧失劳动能力",
    "child": "学龄前",
}
EMPLOYMENT_ALIASES: dict[str, str] = {
    **{label: code for code, label in EMPLOYMENT.items()},
    "就业": "employed",
    "在职": "employed",
    "外出务工": "employed",
    "失业": "unemployed",
    "无劳动能力": "unable",
    "学生": "student",
    "": "unemployed",
}

AREA_TYPES: dict[str, str] = {"urban": "城市", "rural": "农村"}
AREA_TYPE_ALIASES: dict[str, str] = {
    "城市": "urban",
    "城镇": "urban",
    "城": "urban",
    "urban": "urban",
    "农村": "rural",
    "乡村": "rural",
    "农": "rural",
    "rural": "rural",
}

INCOME_KINDS: dict[str, str] = {
    "wage": "工资性收入",
    "business": "经营净收入",
    "property": "财产净收入",
    "transfer": "转移净收入",
    "unclassified": "月收入（未分类）",
}
PROPERTY_KINDS: dict[str, str] = {
    "vehicles": "机动车（辆）",
    "extra_housing": "其他住房（套）",
    "business_registered": "工商登记（个）",
    "deposits": "存款及有价证券（元）",
}

YES_ALIASES = frozenset({"是", "有", "y", "yes", "true", "1", "√", "✓"})
NO_ALIASES = frozenset({"否", "无", "n", "no", "false", "0", "", "×"})

# Chinese labels of registry fields as users know them (reject reasons, rejects and export headers).
FIELD_LABELS: dict[str, str] = {
    "household_no": "户编号",
    "division_code": "行政区划代码",
    "county_name": "县（市、区）",
    "township_name": "乡镇（街道）",
    "village_name": "村（社区）",
    "address": "家庭住址",
    "area_type": "城乡类别",
    "category": "人员类别",
    "category_start": "纳入日期",
    "name": "姓名",
    "citizen_id": "公民身份号码",
    "relation": "与户主关系",
    "disability_kind": "残疾类别",
    "disability_grade": "残疾等级",
    "self_care_failed_items": "生活自理能力评估未通过项数",
    "serious_illness": "是否重病",
    "schooling": "就学情况",
    "employment": "就业情况",
    "wage_income": "工资性收入",
    "business_income": "经营净收入",
    "property_income": "财产净收入",
    "transfer_income": "转移净收入",
    "monthly_income": "月收入",
    "categories": "人员类别",
    "sex": "性别",
    "birth_date": "出生日期",
    "vehicles": "机动车",
    "extra_housing": "其他住房",
    "business_registered": "工商登记",
    "deposits": "存款",
}
