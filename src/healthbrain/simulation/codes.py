"""Code systems, identifier namespaces and clinical code tables (LOINC, ICD-10, drugs) of the simulation.

Systems under `https://healthbrain.dev/fhir/` are HealthBrain's own namespaces for local codes
and institution identifiers; everything else is the international or national system named.
"""

from __future__ import annotations

from dataclasses import dataclass

HB = "https://healthbrain.dev/fhir"

# Identifier namespaces.
# 居民身份证 numbers. OID arc 2.16.156 is China's national root and 10011 the health sector's;
# the whole project uses this one constant, so a later change of OID is a one-line change.
ID_CARD_SYSTEM = "urn:oid:2.16.156.10011.1.1"
USCC_SYSTEM = f"{HB}/sid/uscc"  # 统一社会信用代码 (GB 32100) of organisations
AREA_CODE_SYSTEM = f"{HB}/sid/area-code"  # GB/T 2260 administrative division codes
LICENSE_SYSTEM = f"{HB}/sid/practitioner-license"  # 医师/护士执业证书编码
VISIT_NUMBER_SUFFIX = "visit"


def mrn_system(institution_id: str) -> str:
    """The namespace of an institution's own medical record numbers (病案号/门诊号)."""
    return f"{HB}/sid/{institution_id}/mrn"


def visit_system(institution_id: str) -> str:
    """The namespace of an institution's encounter numbers (就诊流水号)."""
    return f"{HB}/sid/{institution_id}/{VISIT_NUMBER_SUFFIX}"


# International and HL7 systems.
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
COND_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
PRACTITIONER_ROLE = "http://terminology.hl7.org/CodeSystem/practitioner-role"
LOCATION_PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"
DISCHARGE_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"

# Local code systems.
ADMIN_LEVEL_SYSTEM = f"{HB}/CodeSystem/admin-level"  # province | city | county
# Institution kinds after the WS 218 health-institution classification (卫生机构分类代码).
INSTITUTION_TYPE_SYSTEM = f"{HB}/CodeSystem/institution-type"
# Clinical departments after the 医疗机构诊疗科目名录 (codes of the national list of departments).
DEPARTMENT_SYSTEM = f"{HB}/CodeSystem/department"
DRUG_SYSTEM = f"{HB}/CodeSystem/drug"  # the region's shared formulary codes
# Extra Condition category marking a diagnosis that must be reported (法定传染病报告).
NOTIFIABLE_SYSTEM = f"{HB}/CodeSystem/condition-category"
NOTIFIABLE_CODE = "notifiable"

ADMIN_LEVELS = {"province": "省", "city": "市", "county": "县/区"}
INSTITUTION_TYPES = {
    "A1": "综合医院",
    "A21": "中医医院",
    "B1": "社区卫生服务中心",
    "C2": "乡镇卫生院",
    "G1": "妇幼保健院",
}
DEPARTMENTS = {
    "01": "预防保健科",
    "02": "全科医疗科",
    "03": "内科",
    "04": "外科",
    "05": "妇产科",
    "06": "妇女保健科",
    "07": "儿科",
    "09": "儿童保健科",
    "16": "传染科",
    "20": "急诊医学科",
    "21": "康复医学科",
    "30": "医学检验科",
    "50": "中医科",
}


@dataclass(frozen=True, slots=True)
class Quantity:
    """A measurable LOINC observation with its UCUM unit and adult reference range (None = open)."""

    loinc: str
    display: str  # Chinese display
    unit: str  # UCUM code, also used as the human unit
    low: float | None
    high: float | None
    decimals: int


# Vital signs. Blood pressure is one panel (85354-9) with systolic/diastolic components.
BP_PANEL = ("85354-9", "血压")
BP_SYSTOLIC = ("8480-6", "收缩压")
BP_DIASTOLIC = ("8462-4", "舒张压")
HEART_RATE = Quantity("8867-4", "心率", "/min", 60, 100, 0)
BODY_TEMP = Quantity("8310-5", "体温", "Cel", 36.0, 37.3, 1)
BODY_WEIGHT = Quantity("29463-7", "体重", "kg", None, None, 1)
BODY_HEIGHT = Quantity("8302-2", "身高", "cm", None, None, 1)
BMI = Quantity("39156-5", "体质指数", "kg/m2", 18.5, 24.0, 1)

# Laboratory tests with Chinese adult reference intervals (WS/T 404, 405 where they exist).
# Chinese laboratories report substance concentrations in SI units, so the "[Moles/volume]"
# LOINC codes are used: glucose 14749-6 (not 2345-7, which is mass/volume in mg/dL) and
# creatinine 14682-9 (not 2160-0, mg/dL).
GLUCOSE = Quantity("14749-6", "葡萄糖", "mmol/L", 3.9, 6.1, 1)
HBA1C = Quantity("4548-4", "糖化血红蛋白", "%", 4.0, 6.0, 1)
CREATININE_M = Quantity("14682-9", "肌酐", "umol/L", 57, 97, 0)
CREATININE_F = Quantity("14682-9", "肌酐", "umol/L", 41, 73, 0)
POTASSIUM = Quantity("2823-3", "钾", "mmol/L", 3.5, 5.3, 2)
SODIUM = Quantity("2951-2", "钠", "mmol/L", 137, 147, 0)
WBC = Quantity("6690-2", "白细胞计数", "10*9/L", 3.5, 9.5, 2)
HEMOGLOBIN_M = Quantity("718-7", "血红蛋白", "g/L", 130, 175, 0)
HEMOGLOBIN_F = Quantity("718-7", "血红蛋白", "g/L", 115, 150, 0)
HEMOGLOBIN_CHILD = Quantity("718-7", "血红蛋白", "g/L", 110, 160, 0)  # WHO anaemia cut-off, 6 months-5 years
HEMOGLOBIN_PREGNANT = Quantity("718-7", "血红蛋白", "g/L", 110, 150, 0)
PLATELETS = Quantity("777-3", "血小板计数", "10*9/L", 125, 350, 0)
ALT = Quantity("1742-6", "丙氨酸氨基转移酶", "U/L", 9, 50, 0)
AST = Quantity("1920-8", "天门冬氨酸氨基转移酶", "U/L", 15, 40, 0)
CHOLESTEROL = Quantity("14647-2", "总胆固醇", "mmol/L", None, 5.2, 2)
TRIGLYCERIDES = Quantity("14927-8", "甘油三酯", "mmol/L", None, 1.7, 2)
LDL = Quantity("22748-8", "低密度脂蛋白胆固醇", "mmol/L", None, 3.4, 2)
CRP = Quantity("1988-5", "C反应蛋白", "mg/L", None, 10, 1)

# Report panels grouping results in a DiagnosticReport: (LOINC, Chinese display).
PANEL_CBC = ("58410-2", "血常规")
PANEL_RENAL = ("24362-6", "肾功能")
PANEL_LIVER = ("24325-3", "肝功能")
PANEL_LIPID = ("24331-1", "血脂")


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """An ICD-10 diagnosis with its Chinese display and whether it must be reported."""

    code: str
    display: str
    notifiable: bool = False


HYPERTENSION = Diagnosis("I10", "原发性高血压")
DIABETES = Diagnosis("E11.9", "2型糖尿病，不伴有并发症")
HYPERLIPIDEMIA = Diagnosis("E78.5", "高脂血症")
COPD = Diagnosis("J44.9", "慢性阻塞性肺疾病")
CHD = Diagnosis("I25.1", "动脉粥样硬化性心脏病")
URTI = Diagnosis("J06.9", "急性上呼吸道感染")
BRONCHITIS = Diagnosis("J20.9", "急性支气管炎")
PNEUMONIA = Diagnosis("J18.9", "肺炎")
INFLUENZA = Diagnosis("J11.1", "流行性感冒", notifiable=True)
HFMD = Diagnosis("B08.4", "手足口病", notifiable=True)
DIARRHOEA = Diagnosis("A09", "感染性腹泻", notifiable=True)
TUBERCULOSIS = Diagnosis("A16.2", "肺结核", notifiable=True)
GASTRITIS = Diagnosis("K29.7", "胃炎")
LOW_BACK_PAIN = Diagnosis("M54.5", "腰痛")
INSOMNIA = Diagnosis("G47.0", "失眠")
UTI = Diagnosis("N39.0", "泌尿道感染")
APPENDICITIS = Diagnosis("K35.8", "急性阑尾炎")
AMI = Diagnosis("I21.9", "急性心肌梗死")
STROKE = Diagnosis("I63.9", "脑梗死")
PREGNANCY = Diagnosis("Z34.9", "正常妊娠监督")
DELIVERY = Diagnosis("O80.0", "头位顺产")
CHILD_CHECK = Diagnosis("Z00.1", "常规儿童健康检查")
HEALTH_CHECK = Diagnosis("Z00.0", "一般医学检查")


@dataclass(frozen=True, slots=True)
class Drug:
    """A formulary item: local code, Chinese name, ATC code (None for Chinese patent medicines),
    one dose, daily frequency, route (SNOMED code, Chinese text) and days supplied."""

    code: str
    name: str
    atc: str | None
    dose: float
    unit: str  # UCUM code, or a Chinese packaging unit (袋, 粒) without a system
    per_day: int
    route: str
    days: int


ORAL = "26643006"
INTRAVENOUS = "47625008"
SUBCUTANEOUS = "34206005"
INHALATION = "447694001"
ROUTES = {ORAL: "口服", INTRAVENOUS: "静脉滴注", SUBCUTANEOUS: "皮下注射", INHALATION: "吸入"}

DRUGS: dict[str, Drug] = {
    d.code: d
    for d in (
        Drug("HB0101", "苯磺酸氨氯地平片", "C08CA01", 5, "mg", 1, ORAL, 30),
        Drug("HB0102", "硝苯地平控释片", "C08CA05", 30, "mg", 1, ORAL, 30),
        Drug("HB0103", "缬沙坦胶囊", "C09CA03", 80, "mg", 1, ORAL, 30),
        Drug("HB0104", "厄贝沙坦片", "C09CA04", 150, "mg", 1, ORAL, 30),
        Drug("HB0105", "氢氯噻嗪片", "C03AA03", 12.5, "mg", 1, ORAL, 30),
        Drug("HB0106", "琥珀酸美托洛尔缓释片", "C07AB02", 47.5, "mg", 1, ORAL, 30),
        Drug("HB0201", "盐酸二甲双胍片", "A10BA02", 0.5, "g", 3, ORAL, 30),
        Drug("HB0202", "格列美脲片", "A10BB12", 2, "mg", 1, ORAL, 30),
        Drug("HB0203", "阿卡波糖片", "A10BF01", 50, "mg", 3, ORAL, 30),
        Drug("HB0204", "甘精胰岛素注射液", "A10AE04", 12, "[iU]", 1, SUBCUTANEOUS, 30),
        Drug("HB0301", "阿托伐他汀钙片", "C10AA05", 20, "mg", 1, ORAL, 30),
        Drug("HB0302", "阿司匹林肠溶片", "B01AC06", 100, "mg", 1, ORAL, 30),
        Drug("HB0303", "硫酸氢氯吡格雷片", "B01AC04", 75, "mg", 1, ORAL, 30),
        Drug("HB0304", "单硝酸异山梨酯缓释片", "C01DA14", 40, "mg", 1, ORAL, 30),
        Drug("HB0401", "阿莫西林胶囊", "J01CA04", 0.5, "g", 3, ORAL, 5),
        Drug("HB0402", "头孢克洛胶囊", "J01DC04", 0.25, "g", 3, ORAL, 5),
        Drug("HB0403", "注射用头孢曲松钠", "J01DD04", 2, "g", 1, INTRAVENOUS, 7),
        Drug("HB0404", "左氧氟沙星片", "J01MA12", 0.5, "g", 1, ORAL, 7),
        Drug("HB0405", "磷酸奥司他韦胶囊", "J05AH02", 75, "mg", 2, ORAL, 5),
        Drug("HB0501", "布洛芬缓释胶囊", "M01AE01", 0.3, "g", 2, ORAL, 3),
        Drug("HB0502", "对乙酰氨基酚片", "N02BE01", 0.5, "g", 3, ORAL, 3),
        Drug("HB0503", "盐酸氨溴索片", "R05CB06", 30, "mg", 3, ORAL, 5),
        Drug("HB0504", "蒙脱石散", "A07BC05", 3, "g", 3, ORAL, 3),
        Drug("HB0505", "奥美拉唑肠溶胶囊", "A02BC01", 20, "mg", 1, ORAL, 14),
        Drug("HB0506", "双氯芬酸钠缓释片", "M01AB05", 75, "mg", 1, ORAL, 7),
        Drug("HB0507", "右佐匹克隆片", "N05CF04", 2, "mg", 1, ORAL, 14),
        Drug("HB0601", "噻托溴铵吸入粉雾剂", "R03BB04", 18, "ug", 1, INHALATION, 30),
        Drug("HB0602", "沙美特罗替卡松吸入粉雾剂", "R03AK06", 1, "吸", 2, INHALATION, 30),
        Drug("HB0701", "叶酸片", "B03BB01", 0.4, "mg", 1, ORAL, 30),
        Drug("HB0702", "维生素D滴剂", "A11CC05", 400, "[iU]", 1, ORAL, 30),
        Drug("HB0703", "异烟肼片", "J04AC01", 0.3, "g", 1, ORAL, 30),
        Drug("HB0801", "连花清瘟胶囊", None, 4, "粒", 3, ORAL, 5),
        Drug("HB0802", "板蓝根颗粒", None, 1, "袋", 3, ORAL, 5),
        Drug("HB0803", "小儿豉翘清热颗粒", None, 1, "袋", 3, ORAL, 3),
        Drug("HB0804", "藿香正气口服液", None, 1, "支", 2, ORAL, 3),
    )
}

# Packaging units that are not UCUM: their quantities carry no system.
NON_UCUM_UNITS = frozenset({"粒", "袋", "吸", "支"})
